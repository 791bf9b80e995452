//! BSS-Eval v4.
