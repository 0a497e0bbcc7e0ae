DROP TABLE mailbox_messages;
