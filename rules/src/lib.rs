//! The sentrace rule language.
