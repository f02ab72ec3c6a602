(command name: (command_name (word) @_source) (#any-of? @_source "source" ".")) @import
