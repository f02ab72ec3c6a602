; Call sites for the context benchmark: @callee is the called name, @args the argument list.
(call function: (identifier) @callee arguments: (argument_list) @args)
(call function: (attribute attribute: (identifier) @callee) arguments: (argument_list) @args)
