(variable_name) @identifier
(command_name (word) @identifier)
