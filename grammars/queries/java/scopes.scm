(class_declaration) @scope
(interface_declaration) @scope
(enum_declaration) @scope
(method_declaration) @scope
(constructor_declaration) @scope
(lambda_expression) @scope
