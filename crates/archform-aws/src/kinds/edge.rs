//! Providers of the edge kinds: ELBv2 and API Gateway v2.

mod api;
mod apigw;
mod deployment;
mod elb;
mod integration;
mod lambda_target;
mod listener;
mod listener_rule;
mod load_balancer;
mod route;
mod stage;
mod target_group;

use super::Handler;

pub(super) static TARGET_GROUP: Handler = provider!(target_group);
pub(super) static LAMBDA_TARGET: Handler = provider!(lambda_target);
pub(super) static LOAD_BALANCER: Handler = provider!(load_balancer);
pub(super) static LISTENER: Handler = provider!(listener);
pub(super) static LISTENER_RULE: Handler = provider!(listener_rule);
pub(super) static API: Handler = provider!(api);
pub(super) static INTEGRATION: Handler = provider!(integration);
pub(super) static ROUTE: Handler = provider!(route);
pub(super) static DEPLOYMENT: Handler = provider!(deployment);
pub(super) static STAGE: Handler = provider!(stage);
