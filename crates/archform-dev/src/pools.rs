//! Every function of the stack, by logical id.

use crate::pool::FunctionPool;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Default)]
pub struct Pools {
    by_id: BTreeMap<String, Arc<FunctionPool>>,
}

impl Pools {
    pub fn insert(&mut self, pool: FunctionPool) {
        self.by_id.insert(pool.spec.id.clone(), Arc::new(pool));
    }

    pub fn get(&self, id: &str) -> Option<&Arc<FunctionPool>> {
        self.by_id.get(id)
    }

    pub async fn stop(&self) {
        for pool in self.by_id.values() {
            pool.stop().await;
        }
    }
}
