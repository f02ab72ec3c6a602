; Call sites for the context benchmark: @callee is the called name, @args the argument list.
(call_expression function: (identifier) @callee arguments: (arguments) @args)
(call_expression function: (member_expression property: (property_identifier) @callee) arguments: (arguments) @args)
