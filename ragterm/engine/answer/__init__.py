"""Sources and a question -> the model's answer: prompt assembly, the conversation (send,
stream, persist), attached files, saved sessions."""
