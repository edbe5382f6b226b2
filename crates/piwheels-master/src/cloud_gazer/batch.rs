//! Pages of projects the database does not have (the first sync of a farm: every page),
//! applied in batches with one transaction each ([`piwheels_db::Database::add_new_projects`])
//! instead of one transaction per package, version and name.
//!
//! Such a page is read as any other (its refused versions said, counted), then held
//! ([`CloudGazer::defer_new`]) until [`NEW_BATCH`] pages are held, or until the next page
//! is not ready yet, the master pauses or quits, or the pages end: the same rhythm as the
//! state ([`CloudGazer::store_pages`] applies the held pages, then stores the state). The
//! state of a held project is recorded only once its batch is applied, so a master killed
//! in the middle of a poll reads again only the pages it had not applied.
//!
//! The effects are those of [`CloudGazer::apply`] on a new package: the package, its
//! spelling, its versions (buildable, or skipped `binary only`; yanked) with the build
//! queue and the owed pages, the report's counts, the not-PEP-440 warning, the pages
//! rewritten (`Both`) and the summary owed. A package that appeared in the database
//! meanwhile keeps what it has and gets the versions it lacks; then it is brought in line
//! with its page as any known package is ([`CloudGazer::apply`]).

use piwheels_db::{NewProject, NewVersion};

use super::*;

/// The most pages of new projects applied in one transaction.
pub(super) const NEW_BATCH: usize = 500;

/// The page of a project the database did not have, read and not applied yet.
#[derive(Debug)]
pub(super) struct NewPage {
    canon: String,
    page: ProjectPage,
    /// What is recorded of it once applied.
    seen: Seen,
    versions: BTreeMap<String, Upstream>,
    /// The release time of a version whose files have no upload time (when it was read).
    now: DateTime<Utc>,
}

impl NewPage {
    /// What the database is asked to add.
    fn project(&self, known_name: Option<&str>) -> NewProject {
        let name = &self.seen.name;
        NewProject {
            package: self.canon.clone(),
            name: (known_name != Some(name.as_str())).then(|| name.clone()),
            versions: self
                .versions
                .iter()
                .map(|(version, up)| NewVersion {
                    version: version.clone(),
                    released: Some(up.released.unwrap_or(self.now)),
                    skip: if up.sdist { "" } else { BINARY_ONLY }.to_owned(),
                    yanked: up.yanked,
                })
                .collect(),
        }
    }
}

impl CloudGazer {
    /// Holds the changed `page` (with its `ETag`) of `canon`, a project the database does
    /// not have, to apply with others (see the module docs). Its refused versions are
    /// counted and said now.
    pub(super) fn defer_new(
        &mut self,
        canon: String,
        name: String,
        serial: Option<i64>,
        (page, etag): (ProjectPage, Option<String>),
        report: &mut PollReport,
        complaints: &mut Complaints,
    ) {
        report.pages += 1;
        self.removing.remove(&canon);
        let last_refused = self.known(&canon).map(|s| s.refused);
        let (versions, refused) = page_versions(&canon, &page, last_refused, report, complaints);
        let seen = Seen {
            serial: serial.or(page.last_serial),
            etag: state::keepable(etag),
            name,
            refused,
        };
        self.new_pages.push(NewPage {
            canon,
            page,
            seen,
            versions,
            now: Utc::now(),
        });
    }

    /// Applies the held pages of new projects (with `all` false, only once a batch is
    /// full), then stores the state ([`store_state`](Self::store_state)`(all)`). Says
    /// whether a version became buildable.
    pub(super) async fn store_pages(
        &mut self,
        all: bool,
        report: &mut PollReport,
        complaints: &mut Complaints,
    ) -> Result<bool> {
        let mut buildable = false;
        if !self.new_pages.is_empty() && (all || self.new_pages.len() >= NEW_BATCH) {
            buildable = self.apply_new(report, complaints).await?;
        }
        self.store_state(all).await?;
        Ok(buildable)
    }

    /// Applies every held page in one transaction, and records each project's state.
    async fn apply_new(
        &mut self,
        report: &mut PollReport,
        complaints: &mut Complaints,
    ) -> Result<bool> {
        let mut pages = std::mem::take(&mut self.new_pages);
        // A page held by a poll that failed half-way is still here when the next poll
        // reads the project again: the later read counts.
        let mut later = HashSet::with_capacity(pages.len());
        pages.reverse();
        pages.retain(|p| later.insert(p.canon.clone()));
        pages.reverse();
        let projects: Vec<NewProject> = pages
            .iter()
            .map(|p| p.project(self.known(p.canon.as_str()).map(|s| s.name(&p.canon))))
            .collect();
        let added = self.hub.db.add_new_projects(&projects, Utc::now()).await?;
        let mut buildable = false;
        for (mut new, added) in pages.into_iter().zip(added) {
            let mut changed = added.package_added || !added.versions_added.is_empty();
            report.new_packages += usize::from(added.package_added);
            report.new_versions += added.versions_added.len();
            report.yanked += added.yanked;
            for version in &added.versions_added {
                buildable |= new.versions.get(version).is_some_and(|up| up.sdist);
                if !names::is_pep440(version) {
                    report.not_pep440 += 1;
                    complaints
                        .not_pep440
                        .add(|| format!("{} {version}", new.canon));
                }
            }
            if !added.package_added {
                // There already (added meanwhile): brought in line as a known package.
                let changes = self.reconcile(&new, report).await?;
                changed |= changes.changed;
                buildable |= changes.buildable;
                if changes.suspect {
                    // Versions wait for a second look: the page is read again in full.
                    new.seen.serial = None;
                    new.seen.etag = None;
                }
            } else if changed {
                self.hub.web(WebRequest::Both(new.canon.clone()));
            }
            let before = self.known(&new.canon);
            if changed || before.is_none_or(|b| !b.same_page(&new.seen)) {
                self.owe_summary(&new.canon, &new.seen.name);
            }
            self.note(new.canon, new.seen);
        }
        Ok(buildable)
    }

    /// Brings a package the database had already in line with its held page, as
    /// [`apply`](Self::apply) does; its refused versions were counted and said already.
    async fn reconcile(&mut self, new: &NewPage, report: &mut PollReport) -> Result<Changes> {
        let page = Page {
            canon: &new.canon,
            name: &new.seen.name,
            page: &new.page,
        };
        let mut again = PollReport::default();
        let (changes, _) = self
            .apply(
                page,
                &BTreeSet::new(),
                &mut again,
                &mut Complaints::default(),
            )
            .await?;
        report.new_packages += again.new_packages;
        report.new_versions += again.new_versions;
        report.not_pep440 += again.not_pep440;
        report.enabled += again.enabled;
        report.yanked += again.yanked;
        report.unyanked += again.unyanked;
        report.removed_versions += again.removed_versions;
        report.absent_versions += again.absent_versions;
        Ok(changes)
    }
}
