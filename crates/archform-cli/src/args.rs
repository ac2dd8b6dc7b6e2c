//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "archform",
    version,
    about = "Turn system-design blueprints into running AWS systems",
    propagate_version = true
)]
pub struct Cli {
    /// Output format for results and errors.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the embedded blueprints with their descriptions and parameters.
    Blueprints,
    /// List the resource kinds blueprints can use, their properties and attributes.
    Kinds {
        /// Show one kind in detail.
        name: Option<String>,
    },
    /// Render a stack to resources, CloudFormation or a diagram.
    Render {
        #[command(flatten)]
        stack: StackArgs,
        #[arg(long, value_enum, default_value_t = RenderFormat::Yaml)]
        format: RenderFormat,
    },
    /// Validate a stack: schema, parameters, names, CIDRs, references, cycles, security lint.
    Validate {
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Show the dependency graph: which resources can be created in parallel.
    Graph {
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Build every function whose code is `{package, bin}` into a reproducible zip.
    Build {
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Run one invocation of a deployed function locally (its code, environment
    /// and the stack's AWS endpoint), printing the response, logs and a REPORT line.
    Invoke(crate::commands::invoke::InvokeArgs),
    /// Print an AWS-shaped event to pipe into `archform invoke --event -`.
    Event(crate::commands::event::EventArgs),
    /// Run every function of a deployed stack locally behind local stand-ins
    /// for its ALB listeners, function URLs, SQS pollers and WebSocket APIs.
    Dev(crate::commands::dev::DevArgs),
    /// Show what a deploy would change: create, update, replace, delete, per property.
    Plan(crate::commands::lifecycle::PlanArgs),
    /// Create or update a stack's resources in AWS (or the emulator with --local).
    Deploy(crate::commands::lifecycle::DeployArgs),
    /// Delete every resource of a stack, dependents first.
    Destroy(crate::commands::lifecycle::StackNameArgs),
    /// Print a deployed stack's outputs.
    Outputs {
        #[arg(long)]
        stack: String,
        #[command(flatten)]
        target: crate::target::TargetArgs,
    },
    /// Inspect saved state.
    #[command(subcommand)]
    State(StateCommand),
    /// Run a local AWS emulator (moto or LocalStack) for `--local` deploys and tests.
    Emulator(crate::commands::emulator::EmulatorArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderFormat {
    Yaml,
    Json,
    Cloudformation,
    Mermaid,
    Dot,
}

/// Which stack: a blueprint plus parameters, name, region and tags.
#[derive(Debug, Args, Clone)]
pub struct StackArgs {
    /// An embedded blueprint name (see `archform blueprints`) or a path to a blueprint file.
    pub blueprint: Option<String>,
    /// Stack name (default: the blueprint's name). Part of every physical name.
    #[arg(long)]
    pub stack: Option<String>,
    /// Set a parameter: `--set az_count=3` (repeatable; lists are comma-separated).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// Add a tag to every resource: `--tag team=payments` (repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    /// AWS region (default: from the AWS configuration).
    #[arg(long)]
    pub region: Option<String>,
    /// A stack file with blueprint, stack, region, parameters and tags; flags override it.
    #[arg(long, value_name = "FILE")]
    pub stack_file: Option<PathBuf>,
}

impl StackArgs {
    pub fn request(&self) -> archform_blueprint::StackRequest {
        archform_blueprint::StackRequest {
            blueprint: self.blueprint.clone(),
            stack: self.stack.clone(),
            region: self.region.clone(),
            set: self.set.clone(),
            tags: self.tags.clone(),
            stack_file: self.stack_file.clone(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// The stacks that have state.
    List {
        #[command(flatten)]
        target: crate::target::TargetArgs,
    },
    /// One stack's resources, their status and physical ids.
    Show {
        #[arg(long)]
        stack: String,
        #[command(flatten)]
        target: crate::target::TargetArgs,
    },
    /// Remove a lock left by a run that died (the lock error names its id).
    Unlock(crate::commands::state::UnlockArgs),
    /// Forget a resource without deleting it in AWS.
    Rm(crate::commands::state::RmArgs),
    /// Rebuild a lost state file from the `archform:*` tags in the account.
    Recover(crate::commands::state::RecoverArgs),
}
