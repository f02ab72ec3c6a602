(use_declaration) @import
(extern_crate_declaration) @import
(mod_item !body) @import

; What each import binds, for context resolution: @import.module is the module path (several
; captures in one match are joined with "::"), @import.name an imported name, @import.alias the
; name it is bound to, @import.glob a `*` import. `mod x;` binds the child module x.
(use_declaration argument: (scoped_identifier path: (_) @import.module name: (_) @import.name))
(use_declaration argument: (identifier) @import.name)
(use_declaration
  argument: (use_as_clause path: (scoped_identifier path: (_) @import.module name: (_) @import.name) alias: (_) @import.alias))
(use_declaration argument: (scoped_use_list path: (_) @import.module list: (use_list (identifier) @import.name)))
(use_declaration argument: (scoped_use_list path: (_) @import.module list: (use_list (self) @import.self)))
(use_declaration
  argument: (scoped_use_list
    path: (_) @import.module
    list: (use_list (scoped_identifier path: (_) @import.module name: (_) @import.name))))
(use_declaration
  argument: (scoped_use_list
    path: (_) @import.module
    list: (use_list (use_as_clause path: (scoped_identifier path: (_) @import.module name: (_) @import.name) alias: (_) @import.alias))))
(use_declaration
  argument: (scoped_use_list
    path: (_) @import.module
    list: (use_list (use_as_clause path: (identifier) @import.name alias: (_) @import.alias))))
(use_declaration argument: (use_list (scoped_identifier path: (_) @import.module name: (_) @import.name)))
(use_declaration argument: (use_wildcard (_) @import.module) @import.glob)
(mod_item name: (identifier) @import.submodule !body)
