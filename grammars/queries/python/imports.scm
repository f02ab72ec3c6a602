(import_statement) @import
(import_from_statement) @import
(future_import_statement) @import

; What each import binds, for context resolution: @import.module is the module path (several
; captures in one match are joined with the language's separator), @import.name an imported name,
; @import.alias the name it is bound to, @import.glob a `*` import.
(import_statement name: (dotted_name) @import.module)
(import_statement name: (aliased_import name: (dotted_name) @import.module alias: (identifier) @import.alias))
(import_from_statement module_name: (_) @import.module name: (dotted_name) @import.name)
(import_from_statement
  module_name: (_) @import.module
  name: (aliased_import name: (dotted_name) @import.name alias: (identifier) @import.alias))
(import_from_statement module_name: (_) @import.module (wildcard_import) @import.glob)
