//! How CloudGazer brings one package in line with its upstream page: packages, versions
//! and their skips added, changed and removed.

use super::*;

impl CloudGazer {
    /// Brings one package in line with its page; says what changed, and the fingerprint of
    /// the versions it refused (see [`Seen::refused`]).
    pub(super) async fn apply(
        &mut self,
        page: Page<'_>,
        db_packages: &BTreeSet<String>,
        report: &mut PollReport,
        complaints: &mut Complaints,
    ) -> Result<(Changes, u64)> {
        let Page { canon, name, page } = page;
        let last_refused = self.known(canon).map(|s| s.refused);
        let (versions, fingerprint) = page_versions(canon, page, last_refused, report, complaints);
        let now = Utc::now();
        let mut changes = Changes::default();
        self.add_package(canon, name, db_packages, now, report, &mut changes)
            .await?;
        let releases = self
            .hub
            .db
            .project_data(canon)
            .await?
            .map(|d| d.releases)
            .unwrap_or_default();
        for (version, up) in &versions {
            match releases.get(version) {
                None => {
                    if self
                        .add_version(canon, version, up, now, report, complaints)
                        .await?
                    {
                        changes.changed = true;
                        changes.buildable |= up.sdist;
                    }
                }
                Some(release) if release.skip == DELETED => {}
                Some(release) => {
                    self.update_version(canon, version, up, release, report, &mut changes)
                        .await?;
                }
            }
        }
        self.remove_missing(canon, &versions, &releases, report, &mut changes)
            .await?;
        if changes.changed {
            self.hub.web(WebRequest::Both(canon.to_owned()));
        }
        Ok((changes, fingerprint))
    }

    /// Adds the package if the database does not have it, and records the name upstream
    /// spells it with if it is new.
    pub(super) async fn add_package(
        &self,
        canon: &str,
        name: &str,
        db_packages: &BTreeSet<String>,
        now: DateTime<Utc>,
        report: &mut PollReport,
        changes: &mut Changes,
    ) -> Result<()> {
        let db = &self.hub.db;
        if !db_packages.contains(canon) && !db.package_exists(canon).await? {
            // Its summary is asked of the JSON API after the pages (see `summaries`).
            if db.add_new_package(canon, "", "").await? {
                report.new_packages += 1;
                changes.changed = true;
            }
        }
        let known_name = self.known(canon).map(|s| s.name(canon));
        if known_name != Some(name) {
            if name != canon {
                db.add_package_name(canon, canon, None).await?;
            }
            db.add_package_name(canon, name, Some(now)).await?;
        }
        Ok(())
    }

    /// Adds a version new upstream: to build if it has an sdist, else skipped
    /// [`BINARY_ONLY`]; yanked if upstream yanked it. False if the database had it
    /// already.
    pub(super) async fn add_version(
        &self,
        canon: &str,
        version: &str,
        up: &Upstream,
        now: DateTime<Utc>,
        report: &mut PollReport,
        complaints: &mut Complaints,
    ) -> Result<bool> {
        let db = &self.hub.db;
        let skip = if up.sdist { "" } else { BINARY_ONLY };
        let released = Some(up.released.unwrap_or(now));
        if !db
            .add_new_package_version(canon, version, released, skip)
            .await?
        {
            return Ok(false);
        }
        report.new_versions += 1;
        if !names::is_pep440(version) {
            report.not_pep440 += 1;
            complaints.not_pep440.add(|| format!("{canon} {version}"));
        }
        if up.yanked {
            db.yank_version(canon, version).await?;
            report.yanked += 1;
        }
        Ok(true)
    }

    /// Brings a version the database has in line: a binary-only one that gained an sdist
    /// builds now, and its yanked state follows upstream's.
    pub(super) async fn update_version(
        &self,
        canon: &str,
        version: &str,
        up: &Upstream,
        release: &piwheels_db::Release,
        report: &mut PollReport,
        changes: &mut Changes,
    ) -> Result<()> {
        let db = &self.hub.db;
        if up.sdist && db.version_skip(canon, version).await?.as_deref() == Some(BINARY_ONLY) {
            db.skip_package_version(canon, version, "").await?;
            report.enabled += 1;
            changes.changed = true;
            changes.buildable = true;
        }
        if up.yanked != release.yanked {
            if up.yanked {
                db.yank_version(canon, version).await?;
                report.yanked += 1;
            } else {
                db.unyank_version(canon, version).await?;
                report.unyanked += 1;
            }
            changes.changed = true;
        }
        Ok(())
    }

    /// Removes the versions the page lacks, on evidence (see [`absences`]): those it lacked
    /// at the last read too; the others are struck, and the page read again in full at the
    /// next poll. Versions already removed are removed again at once (the rows may still be
    /// there after a restart).
    async fn remove_missing(
        &mut self,
        canon: &str,
        versions: &BTreeMap<String, Upstream>,
        releases: &indexmap::IndexMap<String, piwheels_db::Release>,
        report: &mut PollReport,
        changes: &mut Changes,
    ) -> Result<()> {
        let mut missing = BTreeSet::new();
        for (version, release) in releases {
            if versions.contains_key(version) {
                continue;
            }
            if release.skip == DELETED {
                self.remove_version(canon, version, release).await?;
            } else {
                missing.insert(version.clone());
            }
        }
        let first = missing.len();
        let again = self.absences.versions_missing(canon, missing);
        let first = first - again.len();
        if first > 0 {
            tracing::info!(task = "cloud_gazer", package = %canon, versions = first, "versions missing from the page; removed if still missing at the next read");
            report.absent_versions += first;
            changes.suspect = true;
        }
        for version in again {
            tracing::info!(task = "cloud_gazer", package = %canon, %version, "removing the version: missing from its page on two reads in a row");
            self.remove_version(canon, &version, &releases[&version])
                .await?;
            report.removed_versions += 1;
        }
        Ok(())
    }

    /// Removes a version gone upstream: skipped [`DELETED`], SlaveDriver and TheScribe
    /// told, its rows deleted after the grace period.
    pub(super) async fn remove_version(
        &self,
        canon: &str,
        version: &str,
        release: &piwheels_db::Release,
    ) -> Result<()> {
        if release.skip != DELETED {
            self.hub
                .db
                .skip_package_version(canon, version, DELETED)
                .await?;
        }
        // TheScribe reads the version's files before the rows go.
        self.hub.web(WebRequest::DeleteVersion(
            canon.to_owned(),
            version.to_owned(),
        ));
        let _ = self
            .hub
            .skip
            .send(SkipRequest::Version(canon.to_owned(), version.to_owned()));
        delete_later(
            &self.hub,
            self.grace,
            Deletion::Version(canon.to_owned(), version.to_owned()),
        );
        Ok(())
    }

    /// Removes a package gone upstream; false if its removal was already under way.
    pub(super) async fn remove_package(&mut self, canon: &str) -> Result<bool> {
        if self.hub.db.package_marked_deleted(canon).await? {
            if self.removing.contains(canon) {
                return Ok(false);
            }
        } else {
            self.hub.db.skip_package(canon, DELETED).await?;
        }
        self.removing.insert(canon.to_owned());
        self.forget(canon).await?;
        self.hub.web(WebRequest::DeletePackage(canon.to_owned()));
        let _ = self.hub.skip.send(SkipRequest::Package(canon.to_owned()));
        delete_later(&self.hub, self.grace, Deletion::Package(canon.to_owned()));
        Ok(true)
    }
}
