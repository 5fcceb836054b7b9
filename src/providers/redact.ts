// A value ends at the next parameter or whitespace, or before the ": " that follows a location in
// our messages ("Cannot read s3://b/k?secret_key=***: Access Denied"). Not at "#": a fragment after
// a secret is hidden with it, since secret keys may hold a raw "#" (parseS3Location splits on "&" only).
// Values that hold a space or ": " are cut there: the callers that know the values redact them whole.
const SECRET_PARAMETER =
  /((?:^|[?&;\s])(?:access_key|secret_key|session_token|token|password)=)[^&\s]*?(?=[&\s]|:\s|$)/gi

// The password runs to the last "@" of the word: passwords typed into a URI often hold a raw "@" or
// "/", and hiding too much of a malformed URI is better than showing part of a password.
const USERINFO_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s/?#@:]*:)\S*@/gi

/** The location with secret query parameter values and any userinfo password replaced by `***`. */
export function redactLocation(location: string): string {
  return location.replaceAll(SECRET_PARAMETER, '$1***').replaceAll(USERINFO_PASSWORD, '$1***@')
}

/** `text` with every occurrence of each non-empty secret replaced by `***`. */
export function redactSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  // Longest first, so that a secret containing a shorter one is not left half visible.
  const sorted = secrets.filter((secret): secret is string => Boolean(secret)).sort((a, b) => b.length - a.length)
  let redacted = text
  for (const secret of sorted) redacted = redacted.split(secret).join('***')
  return redacted
}
