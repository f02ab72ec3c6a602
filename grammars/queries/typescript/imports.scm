(import_statement) @import

; What each import binds, for context resolution: @import.module is the module specifier,
; @import.name an imported name, @import.alias the name it is bound to, @import.glob `* as ns`
; (bound to @import.alias) or `export * from`.
(import_statement
  (import_clause (named_imports (import_specifier name: (identifier) @import.name !alias)))
  source: (string (string_fragment) @import.module))
(import_statement
  (import_clause (named_imports (import_specifier name: (identifier) @import.name alias: (identifier) @import.alias)))
  source: (string (string_fragment) @import.module))
(import_statement (import_clause (identifier) @import.name) source: (string (string_fragment) @import.module))
(import_statement
  (import_clause (namespace_import (identifier) @import.alias) @import.glob)
  source: (string (string_fragment) @import.module))
(export_statement
  (export_clause (export_specifier name: (identifier) @import.name))
  source: (string (string_fragment) @import.module))
(export_statement "*" @import.glob source: (string (string_fragment) @import.module))
