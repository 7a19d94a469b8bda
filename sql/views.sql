-- Views over the Parquet tables of the Hugging Face Papers dataset (DuckDB).
--
-- From the repository root, with the DuckDB CLI:
--     duckdb -init sql/views.sql
--     duckdb -c ".read sql/views.sql" -c "SELECT * FROM papers_full LIMIT 5"
-- The paths below are relative to the repository root. etl/query.py runs this same file
-- against any other data folder by replacing every 'data/processed/ prefix (quote included)
-- with that folder, so keep every table path in the form 'data/processed/<table>.parquet'.

CREATE OR REPLACE VIEW papers AS SELECT * FROM read_parquet('data/processed/papers.parquet');
CREATE OR REPLACE VIEW authors AS SELECT * FROM read_parquet('data/processed/authors.parquet');
CREATE OR REPLACE VIEW dates AS SELECT * FROM read_parquet('data/processed/dates.parquet');
CREATE OR REPLACE VIEW links AS SELECT * FROM read_parquet('data/processed/links.parquet');
CREATE OR REPLACE VIEW sources AS SELECT * FROM read_parquet('data/processed/sources.parquet');
CREATE OR REPLACE VIEW rejects AS SELECT * FROM read_parquet('data/processed/rejects.parquet');

-- One row per paper with everything known about it; links as a sorted list (empty, not
-- null, when the abstract has none), so that no join fans a paper out into several rows.
CREATE OR REPLACE VIEW papers_full AS
SELECT
    p.paper_id,
    p.title,
    p.abstract,
    p.upvotes,
    a.author_count,
    d.published_date,
    d.date_text,
    d.year_source,
    coalesce(l.links, []::VARCHAR[]) AS links,
    p.source_count
FROM papers AS p
LEFT JOIN authors AS a USING (paper_id)
LEFT JOIN dates AS d USING (paper_id)
LEFT JOIN (
    SELECT paper_id, list(url ORDER BY url) AS links
    FROM links
    GROUP BY paper_id
) AS l USING (paper_id)
ORDER BY p.paper_id;
