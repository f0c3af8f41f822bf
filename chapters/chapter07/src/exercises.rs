//! Solutions to the exercises at the end of chapter 7.
