//! The master's integration tests, one binary: its tasks, the whole master on real sockets
//! and a real database, the web output, and the regressions each named after the defect it
//! shows.
//!
//! One module per subject (run one with `cargo nextest run -p piwheels-master <module>::`):
//! one binary links once instead of once per module. Under `cargo test` the tests run as
//! threads of this one process, so none may change process-wide state unguarded (see the
//! `test_support` crate).

mod core_support;
mod index_support;
mod log_capture;
mod pypi_sim;
mod queue_auth;
mod web_common;
mod webdriver_support;

mod a_protocol_error_freezes_the_job;
mod a_slave_publishes_another_versions_wheel;
mod admin_queue_auth;
mod an_imported_version_is_built_again;
mod core_file_juggler;
mod core_master;
mod core_slave_driver;
mod core_tasks;
mod download_figures_on_the_pages;
mod downloads_ever_counted_twice;
mod garbage_frames_flood_the_log;
mod hostile_names_stay_out_of_the_database;
mod keepalive_requests_stall_40ms;
mod lumberjack;
mod metrics;
mod mr_chase;
mod original_slave_crashes_on_sigterm_while_its_idle_is_held;
mod output_adopt;
mod search_index_empty_for_an_hour;
mod search_page_order;
mod slave_limits_and_cool_off;
mod the_output_disagrees_with_the_database;
mod the_web_is_404_after_the_disk_was_full;
mod upstream_at_scale;
mod upstream_bad_upstream;
mod upstream_changelog_client;
mod upstream_changelog_mode;
mod upstream_cloud_gazer;
mod upstream_concurrency;
mod upstream_list_streaming;
mod upstream_new_projects_in_batches;
mod upstream_pypi_sim;
mod upstream_retry_after_and_timeouts;
mod upstream_state_survives_restarts;
mod upstream_summaries;
mod web_browser;
mod web_http;
mod web_http_caching;
mod web_http_indexes;
mod web_http_multipart;
mod web_http_page_cache;
mod web_pages;
mod web_pip;
mod web_scribe;
mod web_scribe_rewrites;
mod web_scribe_writes;
mod web_secretary;
mod web_slow_clients;
mod zero_length_chunk_fetch_storm;
