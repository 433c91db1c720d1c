//! certcentral-client
