//! Messaging: the message contracts, the transactional outbox and its relay, the bus the relay hands
//! messages to (RabbitMQ, or the consumers of this process), and for RabbitMQ the topology, the
//! connection supervisor and the confirming publisher.

pub mod bus;
pub mod contracts;
pub mod outbox;
pub mod publisher;
pub mod relay;
pub mod settings;
pub mod supervisor;
pub mod topology;
