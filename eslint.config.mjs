import {includeIgnoreFile} from '@eslint/compat'
import oclif from 'eslint-config-oclif'
import prettier from 'eslint-config-prettier'
import {fileURLToPath} from 'node:url'

const gitignore = fileURLToPath(new URL('.gitignore', import.meta.url))

export default [includeIgnoreFile(gitignore), ...oclif, prettier]
