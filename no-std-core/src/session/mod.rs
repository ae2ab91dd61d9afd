//! The sans-IO session engine (under construction; compiled only with `--cfg tern_wip_session`).
