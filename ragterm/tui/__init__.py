"""The Textual chat app. Only this package (and ``ragterm.cli.chat``) imports textual."""
