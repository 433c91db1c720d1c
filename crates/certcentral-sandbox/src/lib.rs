//! certcentral-sandbox
