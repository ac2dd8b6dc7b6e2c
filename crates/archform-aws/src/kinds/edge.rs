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

static TARGET_GROUP: Handler = handler!(target_group);
static LAMBDA_TARGET: Handler = handler!(lambda_target);
static LOAD_BALANCER: Handler = handler!(load_balancer);
static LISTENER: Handler = handler!(listener);
static LISTENER_RULE: Handler = handler!(listener_rule);
static API: Handler = handler!(api);
static INTEGRATION: Handler = handler!(integration);
static ROUTE: Handler = handler!(route);
static DEPLOYMENT: Handler = handler!(deployment);
static STAGE: Handler = handler!(stage);

pub(super) fn handler(kind: &str) -> Option<&'static Handler> {
    match kind {
        "elbv2.target_group" => Some(&TARGET_GROUP),
        "elbv2.lambda_target" => Some(&LAMBDA_TARGET),
        "elbv2.load_balancer" => Some(&LOAD_BALANCER),
        "elbv2.listener" => Some(&LISTENER),
        "elbv2.listener_rule" => Some(&LISTENER_RULE),
        "apigatewayv2.api" => Some(&API),
        "apigatewayv2.integration" => Some(&INTEGRATION),
        "apigatewayv2.route" => Some(&ROUTE),
        "apigatewayv2.deployment" => Some(&DEPLOYMENT),
        "apigatewayv2.stage" => Some(&STAGE),
        _ => None,
    }
}
