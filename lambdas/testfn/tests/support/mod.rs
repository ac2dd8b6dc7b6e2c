pub mod connections;
