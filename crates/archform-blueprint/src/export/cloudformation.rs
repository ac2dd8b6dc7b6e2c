//! CloudFormation translation (being written).
use crate::model::Graph;

pub fn template(graph: &Graph) -> serde_json::Value {
    serde_json::json!({"AWSTemplateFormatVersion": "2010-09-09", "Description": graph.stack.blueprint})
}
