//! The route table in use, replaced whole on reload: a request holds the table it started with.

use std::sync::{Arc, RwLock};

use super::RouteTable;

/// The table in use, replaced whole on reload. Cloning shares it.
#[derive(Clone, Default)]
pub struct SharedRoutes(Arc<RwLock<Arc<RouteTable>>>);

impl SharedRoutes {
    pub fn new(table: RouteTable) -> Self {
        SharedRoutes(Arc::new(RwLock::new(Arc::new(table))))
    }

    /// The current table (cheap: an `Arc` clone under a read lock).
    pub fn current(&self) -> Arc<RouteTable> {
        self.0.read().map(|table| table.clone()).unwrap_or_default()
    }

    pub fn replace(&self, table: RouteTable) {
        if let Ok(mut current) = self.0.write() {
            *current = Arc::new(table);
        }
    }
}
