; Call sites for the context benchmark: @callee is the called name, @args the argument list.
(call_expression function: (identifier) @callee arguments: (arguments) @args)
(call_expression function: (scoped_identifier name: (identifier) @callee) arguments: (arguments) @args)
(call_expression function: (field_expression field: (field_identifier) @callee) arguments: (arguments) @args)
