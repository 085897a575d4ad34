"""The Textual chat app. Only this package (and ``ragterm.cli.chat_cmd``) imports textual."""
