(string_content) @identifier
