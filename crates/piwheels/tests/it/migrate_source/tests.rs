//! The fixture itself: it builds, holds what [`Expectations`] says, is the same for the
//! same seed, and our database refuses it as it is.

use super::*;

async fn count(client: &Client, sql: &str) -> u64 {
    let n: i64 = client
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0);
    u64::try_from(n).unwrap()
}

async fn digest(client: &Client) -> String {
    client
        .query_one(
            "SELECT md5(string_agg(filename || filehash || build_id::text, ',' ORDER BY filename)) \
             || (SELECT md5(string_agg(host(accessed_by) || filename, ',' ORDER BY accessed_at, filename)) FROM downloads) \
             FROM files",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

async fn refusal(dsn: &str) -> String {
    match piwheels_db::Database::open(dsn).await {
        Ok(_) => panic!("Database::open accepted the original's database"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_023_fixture_builds_and_fills() {
    let test = "migrate_source::the_023_fixture_builds_and_fills";
    let Some(super_dsn) = pg_or_skip(test) else {
        return;
    };
    let scale = Scale::small();
    let (dsn, _guard) = create(&super_dsn).await.unwrap();
    let client = connect(&dsn).await.unwrap();
    let exp = generate(&client, &scale).await.unwrap();

    // Rows per table: what generate says, and the scale's totals.
    for table in TABLES {
        assert_eq!(
            count(&client, &format!("SELECT count(*) FROM {table}")).await,
            exp.rows[table],
            "rows of {table}"
        );
    }
    for (table, total) in [
        ("packages", scale.packages),
        ("versions", scale.versions),
        ("builds", scale.builds),
        ("files", scale.files),
        ("downloads", scale.downloads),
        ("searches", scale.searches),
        ("project_page_hits", scale.project_page_hits),
        ("project_json_downloads", scale.project_json_downloads),
        ("web_page_hits", scale.web_page_hits),
    ] {
        assert_eq!(exp.rows[table], total, "{table} against the scale");
    }
    for table in TABLES {
        assert!(exp.rows[table] > 0, "{table} is empty");
    }
    let row = client
        .query_one(
            "SELECT version, pypi_serial FROM configuration WHERE id = 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "0.23");
    assert_eq!(row.get::<_, i64>(1), exp.pypi_serial);
    let next: i64 = client
        .query_one(
            "SELECT nextval(pg_get_serial_sequence('builds', 'build_id'))",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(next, exp.last_build_id + 1);

    check_kinds(&client, &exp).await;
    check_odd_rows(&client, &exp.odd).await;

    // The same seed makes the same rows.
    let (dsn2, _guard2) = create(&super_dsn).await.unwrap();
    let client2 = connect(&dsn2).await.unwrap();
    generate(&client2, &scale).await.unwrap();
    assert_eq!(digest(&client).await, digest(&client2).await);

    // Our database refuses it as it is, and the sources a migration must refuse too.
    let why = refusal(&dsn).await;
    assert!(
        why.contains("original Python piwheels (version 0.23)")
            && why.contains("copy it into a new database with piw-migrate"),
        "{why}"
    );
    set_version(&client2, "0.22").await.unwrap();
    assert!(refusal(&dsn2).await.contains("(version 0.22)"));
    mid_upgrade(&client2).await.unwrap();
    assert!(refusal(&dsn2).await.contains("(version 0.21)"));
    assert_eq!(
        count(&client2, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'files' AND column_name = 'location'").await,
        1
    );
}

/// The kinds the migration maps are there as the generator counted them.
async fn check_kinds(client: &Client, exp: &Expectations) {
    // The kinds the migration maps, counted as the generator counted them.
    let (reg, odd) = (&exp.regular, &exp.odd);
    let kinds = [
        (
            "SELECT count(*) FROM builds WHERE NOT status",
            reg.failed_builds + odd.failed_builds.len() as u64,
        ),
        (
            "SELECT count(*) FROM files WHERE platform_tag = 'linux_armv6l'",
            reg.armv6l_copies + odd.armv6l_copies.len() as u64,
        ),
        (
            "SELECT count(*) FROM files WHERE abi_tag = 'none'",
            reg.none_files + odd.none_files.len() as u64,
        ),
        (
            "SELECT count(*) FROM files WHERE abi_tag = 'abi3'",
            reg.abi3_files + odd.abi3_files.len() as u64,
        ),
        (
            "SELECT count(*) FROM files WHERE location <> '/simple'",
            reg.other_locations + odd.other_locations.len() as u64,
        ),
        (
            "SELECT count(*) FROM versions WHERE yanked",
            reg.yanked_versions + odd.yanked_versions.len() as u64,
        ),
        (
            "SELECT count(*) FROM versions WHERE skip NOT IN ('', 'deleted')",
            reg.skipped_versions + odd.skipped_versions.len() as u64,
        ),
        (
            "SELECT count(*) FROM versions WHERE skip = 'deleted'",
            odd.deleted_versions.len() as u64,
        ),
        (
            "SELECT count(*) FROM packages WHERE skip NOT IN ('', 'deleted')",
            reg.skipped_packages + odd.skipped_packages.len() as u64,
        ),
        (
            "SELECT count(*) FROM packages WHERE skip = 'deleted'",
            odd.deleted_packages.len() as u64,
        ),
        (
            "SELECT count(*) FROM dependencies WHERE tool = 'apt'",
            reg.dependencies[0] + odd.dependencies[0],
        ),
        (
            "SELECT count(*) FROM dependencies WHERE tool = 'pip'",
            reg.dependencies[1] + odd.dependencies[1],
        ),
        (
            "SELECT count(*) FROM dependencies WHERE tool = ''",
            reg.dependencies[2] + odd.dependencies[2],
        ),
        (
            "SELECT (SELECT count(*) FROM downloads WHERE family(accessed_by) = 6) \
             + (SELECT count(*) FROM searches WHERE family(accessed_by) = 6) \
             + (SELECT count(*) FROM project_page_hits WHERE family(accessed_by) = 6) \
             + (SELECT count(*) FROM project_json_downloads WHERE family(accessed_by) = 6) \
             + (SELECT count(*) FROM web_page_hits WHERE family(accessed_by) = 6)",
            reg.ipv6_rows + odd.ipv6_rows,
        ),
        (
            "SELECT count(*) FROM downloads d WHERE NOT EXISTS \
             (SELECT 1 FROM files f WHERE f.filename = d.filename)",
            reg.dangling_downloads
                + odd
                    .dangling_access
                    .iter()
                    .filter(|(t, _)| t == "downloads")
                    .count() as u64,
        ),
        (
            "SELECT count(*) FROM (SELECT package FROM package_names GROUP BY package \
             HAVING count(*) > 1) AS p",
            reg.display_names + odd.aliases.len() as u64,
        ),
        (
            "SELECT count(*) FROM files WHERE requires_python IS NULL",
            reg.requires_python_null + odd.requires_python_null,
        ),
    ];
    for (sql, want) in kinds {
        assert_eq!(count(client, sql).await, want, "{sql}");
    }
    for kind in [
        reg.failed_builds,
        reg.armv6l_copies,
        reg.none_files,
        reg.abi3_files,
        reg.dangling_downloads,
        reg.ipv6_rows,
        reg.dependencies[2],
    ] {
        assert!(kind > 0, "the small scale lacks a kind: {reg:?}");
    }

    // Every armv6l file copies an armv7l file of the same build, hash and size.
    assert_eq!(
        count(
            client,
            "SELECT count(*) FROM files a JOIN files b ON a.build_id = b.build_id \
             AND b.filename = replace(a.filename, 'linux_armv6l', 'linux_armv7l') \
             AND a.filehash = b.filehash AND a.filesize = b.filesize \
             WHERE a.platform_tag = 'linux_armv6l'"
        )
        .await,
        reg.armv6l_copies + odd.armv6l_copies.len() as u64
    );
    // Failed builds have no files.
    assert_eq!(
        count(
            client,
            "SELECT count(*) FROM builds b JOIN files f USING (build_id) WHERE NOT b.status"
        )
        .await,
        0
    );
}

/// The odd rows are there as listed, and the build queue works on them.
async fn check_odd_rows(client: &Client, odd: &odd::Odd) {
    // The odd rows are there as listed.
    for (canon, display) in &odd.display_names {
        let row = client
            .query_one(
                "SELECT name FROM package_names WHERE package = $1 ORDER BY seen DESC LIMIT 1",
                &[canon],
            )
            .await
            .unwrap();
        assert_eq!(&row.get::<_, String>(0), display);
    }
    for (p, _) in &odd.hostile_packages {
        assert_eq!(
            count(
                client,
                &format!(
                    "SELECT count(*) FROM packages WHERE package = '{}'",
                    p.replace('\'', "''")
                )
            )
            .await,
            1,
            "hostile package {p:?}"
        );
    }
    for name in &odd.orphan_names {
        let n: i64 = client
            .query_one("SELECT count(*) FROM versions WHERE package = $1", &[name])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "{name} has no versions");
    }
    for (table, key, value) in &odd.impossible_dates {
        let column = table.split('.').nth(1).unwrap();
        let table = table.split('.').next().unwrap();
        let n = count(
            client,
            &format!("SELECT count(*) FROM {table} WHERE {column} = '{value}'"),
        )
        .await;
        assert!(n >= 1, "{table}.{column} = {value} ({key})");
    }
    // The build queue (§5.2) works on it, and never names a skipped ABI.
    assert!(count(client, "SELECT count(*) FROM builds_pending").await > 0);
    assert_eq!(
        count(
            client,
            "SELECT count(*) FROM builds_pending WHERE abi_tag IN ('cp37', 'cp35')"
        )
        .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scale_too_small_for_the_odd_rows_is_refused() {
    let test = "migrate_source::a_scale_too_small_for_the_odd_rows_is_refused";
    let Some(super_dsn) = pg_or_skip(test) else {
        return;
    };
    let (dsn, _guard) = create(&super_dsn).await.unwrap();
    let client = connect(&dsn).await.unwrap();
    let scale = Scale {
        packages: 3,
        ..Scale::small()
    };
    let err = generate(&client, &scale).await.unwrap_err();
    assert!(
        err.to_string().contains("packages: 3 rows cannot hold"),
        "{err}"
    );
}
