(identifier) @identifier
(field_identifier) @identifier
(type_identifier) @identifier
(package_identifier) @identifier
