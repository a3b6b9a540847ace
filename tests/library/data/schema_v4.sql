-- The schema of a version 4 cvesweep library (SQLite), frozen: this file must never change.

-- Version 5 computes the finding attributes from findings (a view) and drops the foreign keys to sources.

CREATE TABLE meta (
	"key" VARCHAR(64) NOT NULL, 
	value TEXT NOT NULL, 
	CONSTRAINT pk_meta PRIMARY KEY ("key")
);

CREATE TABLE objects (
	id INTEGER NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	type VARCHAR(32) NOT NULL, 
	value TEXT NOT NULL, 
	description TEXT, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_objects PRIMARY KEY (id), 
	CONSTRAINT uq_objects_kind_type_value UNIQUE (kind, type, value)
);

CREATE TABLE runs (
	id INTEGER NOT NULL, 
	cve TEXT NOT NULL, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME NOT NULL, 
	outcome VARCHAR(16) NOT NULL, 
	error TEXT, 
	parameters JSON NOT NULL, 
	hosts INTEGER NOT NULL, 
	detections INTEGER NOT NULL, 
	pages INTEGER NOT NULL, 
	api_calls INTEGER NOT NULL, 
	search_list_id INTEGER, 
	search_list_deleted BOOLEAN NOT NULL, 
	assets_created INTEGER, 
	assets_updated INTEGER, 
	attributes_added INTEGER, 
	attributes_removed INTEGER, 
	relationships_added INTEGER, 
	findings_added INTEGER, 
	findings_updated INTEGER, 
	tags_added INTEGER, 
	CONSTRAINT pk_runs PRIMARY KEY (id)
);

CREATE TABLE sources (
	id INTEGER NOT NULL, 
	name TEXT NOT NULL, 
	CONSTRAINT pk_sources PRIMARY KEY (id), 
	CONSTRAINT uq_sources_name UNIQUE (name)
);

CREATE TABLE attributes (
	id INTEGER NOT NULL, 
	object_id INTEGER NOT NULL, 
	name TEXT NOT NULL, 
	value TEXT NOT NULL, 
	source_id INTEGER NOT NULL, 
	published_at DATETIME NOT NULL, 
	origin VARCHAR(16) NOT NULL, 
	CONSTRAINT pk_attributes PRIMARY KEY (id), 
	CONSTRAINT uq_attributes_object_id_name_value UNIQUE (object_id, name, value), 
	CONSTRAINT fk_attributes_object_id_objects FOREIGN KEY(object_id) REFERENCES objects (id) ON DELETE CASCADE, 
	CONSTRAINT fk_attributes_source_id_sources FOREIGN KEY(source_id) REFERENCES sources (id)
);

CREATE TABLE findings (
	id INTEGER NOT NULL, 
	asset_id INTEGER NOT NULL, 
	cve_id INTEGER NOT NULL, 
	qid INTEGER NOT NULL, 
	severity INTEGER, 
	status TEXT, 
	type TEXT, 
	port INTEGER, 
	protocol TEXT, 
	first_found TEXT, 
	last_found TEXT, 
	times_found INTEGER, 
	last_scan TEXT, 
	qualys_host_id INTEGER, 
	unique_vuln_id BIGINT, 
	cves TEXT, 
	qds INTEGER, 
	qds_severity TEXT, 
	mitre_tactic_ids TEXT, 
	mitre_tactic_names TEXT, 
	mitre_technique_ids TEXT, 
	mitre_technique_names TEXT, 
	detection_sources TEXT, 
	latest_detection_source TEXT, 
	first_seen_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_findings PRIMARY KEY (id), 
	CONSTRAINT uq_findings_asset_id_cve_id_qid UNIQUE (asset_id, cve_id, qid), 
	CONSTRAINT fk_findings_asset_id_objects FOREIGN KEY(asset_id) REFERENCES objects (id) ON DELETE CASCADE, 
	CONSTRAINT fk_findings_cve_id_objects FOREIGN KEY(cve_id) REFERENCES objects (id) ON DELETE CASCADE
);

CREATE TABLE object_sources (
	object_id INTEGER NOT NULL, 
	source_id INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_object_sources PRIMARY KEY (object_id, source_id), 
	CONSTRAINT fk_object_sources_object_id_objects FOREIGN KEY(object_id) REFERENCES objects (id) ON DELETE CASCADE, 
	CONSTRAINT fk_object_sources_source_id_sources FOREIGN KEY(source_id) REFERENCES sources (id)
);

CREATE TABLE relationships (
	id INTEGER NOT NULL, 
	object_a_id INTEGER NOT NULL, 
	object_b_id INTEGER NOT NULL, 
	source_id INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_relationships PRIMARY KEY (id), 
	CONSTRAINT uq_relationships_object_a_id_object_b_id UNIQUE (object_a_id, object_b_id), 
	CONSTRAINT fk_relationships_object_a_id_objects FOREIGN KEY(object_a_id) REFERENCES objects (id) ON DELETE CASCADE, 
	CONSTRAINT fk_relationships_object_b_id_objects FOREIGN KEY(object_b_id) REFERENCES objects (id) ON DELETE CASCADE, 
	CONSTRAINT fk_relationships_source_id_sources FOREIGN KEY(source_id) REFERENCES sources (id)
);

CREATE TABLE tags (
	id INTEGER NOT NULL, 
	object_id INTEGER NOT NULL, 
	name TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_tags PRIMARY KEY (id), 
	CONSTRAINT uq_tags_object_id_name UNIQUE (object_id, name), 
	CONSTRAINT fk_tags_object_id_objects FOREIGN KEY(object_id) REFERENCES objects (id) ON DELETE CASCADE
);

CREATE INDEX ix_runs_cve_started_at ON runs (cve, started_at);

CREATE INDEX ix_findings_cve_id ON findings (cve_id);

CREATE INDEX ix_relationships_object_b_id ON relationships (object_b_id);

CREATE INDEX ix_tags_name ON tags (name);

INSERT INTO meta (key, value) VALUES ('schema_version', '4');
