//! Messaging over RabbitMQ: the message contracts, the topology, the connection supervisor, the
//! confirming publisher, the transactional outbox and its relay.

pub mod contracts;
pub mod outbox;
pub mod publisher;
pub mod relay;
pub mod settings;
pub mod supervisor;
pub mod topology;
