(function_declaration) @scope
(function_definition) @scope
