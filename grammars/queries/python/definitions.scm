(function_definition name: (identifier) @name) @definition.function
(class_definition name: (identifier) @name) @definition.type
(module (expression_statement (assignment left: (identifier) @name) @definition.constant))
(class_definition body: (block (expression_statement (assignment left: (identifier) @name) @definition.member)))
