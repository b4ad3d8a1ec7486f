-- A check result's listed objects counted once, when the result is first stored.
--
-- A cluster check result is content-addressed: its list of object results never changes, so neither do the
-- counts of that list by status, platform and namespace. The cluster page and the policy check page used to
-- count them on every request through one index lookup per listed object (67,910 lookups, 0.9 s, for the
-- policy check page on a fleet of 200 clusters); they now read one row per check. Ingest computes the
-- counts from the report; the rows stored before this migration are counted here from their object results.

ALTER TABLE cluster_check_results
    -- Listed objects that are not platform-owned: failing (fail or warn) and unknown (manual or error).
    ADD COLUMN failing          INT,
    ADD COLUMN unknown          INT,
    -- Listed objects on a platform-owned list, whatever their status, and of those the failing, warning
    -- and unknown ones (what they count as when a cluster's platform bucket is off).
    ADD COLUMN platform         INT,
    ADD COLUMN platform_fail    INT,
    ADD COLUMN platform_warn    INT,
    ADD COLUMN platform_unknown INT,
    -- The platform-owned lists that named its objects, as 'list version', sorted, without repeats.
    ADD COLUMN platform_lists   TEXT[],
    -- The same counts per namespace of the listed objects (cluster-scoped objects under ""), with the ids
    -- of the distinct objects so that a page can count distinct objects across checks:
    -- {"shop": {"failing": 2, "unknown": 0, "platform": 0, "platform_failing": 0, "platform_unknown": 0,
    --           "objects": [17, 42]}, ...}
    ADD COLUMN by_namespace     JSONB;

-- Every stored list, joined by hash to the object results and objects it names, counted per namespace in one
-- pass, then per result from those rows, and written in one UPDATE (each UPDATE rewrites the rows it touches).
WITH per_namespace AS (
    SELECT c.id, o.namespace,
           count(*) FILTER (WHERE r.platform IS NULL AND r.status IN ('fail', 'warn'))::int AS failing,
           count(*) FILTER (WHERE r.platform IS NULL AND r.status IN ('manual', 'error'))::int AS unknown,
           count(*) FILTER (WHERE r.platform IS NOT NULL)::int AS platform,
           count(*) FILTER (WHERE r.platform IS NOT NULL AND r.status = 'fail')::int AS platform_fail,
           count(*) FILTER (WHERE r.platform IS NOT NULL AND r.status = 'warn')::int AS platform_warn,
           count(*) FILTER (WHERE r.platform IS NOT NULL AND r.status IN ('manual', 'error'))::int
               AS platform_unknown,
           array_agg(DISTINCT (r.platform ->> 'list') || ' ' || (r.platform ->> 'version'))
               FILTER (WHERE r.platform IS NOT NULL) AS platform_lists,
           jsonb_agg(DISTINCT o.id) AS objects
    FROM cluster_check_results c
    CROSS JOIN LATERAL unnest(c.object_result_ids) AS u(object_result_id)
    JOIN object_results r ON r.id = u.object_result_id
    JOIN objects o ON o.id = r.object_id
    GROUP BY c.id, o.namespace
),
per_result AS (
    SELECT id,
           sum(failing)::int AS failing, sum(unknown)::int AS unknown, sum(platform)::int AS platform,
           sum(platform_fail)::int AS platform_fail, sum(platform_warn)::int AS platform_warn,
           sum(platform_unknown)::int AS platform_unknown,
           jsonb_object_agg(namespace, jsonb_build_object(
               'failing', failing, 'unknown', unknown, 'platform', platform,
               'platform_failing', platform_fail + platform_warn, 'platform_unknown', platform_unknown,
               'objects', objects)) AS by_namespace
    FROM per_namespace
    GROUP BY id
),
lists AS (
    SELECT id, array_agg(DISTINCT list ORDER BY list) AS platform_lists
    FROM per_namespace CROSS JOIN LATERAL unnest(platform_lists) AS l(list)
    GROUP BY id
)
UPDATE cluster_check_results c
SET failing = p.failing, unknown = p.unknown, platform = p.platform, platform_fail = p.platform_fail,
    platform_warn = p.platform_warn, platform_unknown = p.platform_unknown,
    platform_lists = coalesce(l.platform_lists, '{}'), by_namespace = p.by_namespace
FROM per_result p LEFT JOIN lists l ON l.id = p.id
WHERE p.id = c.id;

-- A result that lists nothing (every listed id names a stored object result, so nothing else is left).
UPDATE cluster_check_results
SET failing = 0, unknown = 0, platform = 0, platform_fail = 0, platform_warn = 0, platform_unknown = 0,
    platform_lists = '{}', by_namespace = '{}'
WHERE failing IS NULL;

ALTER TABLE cluster_check_results
    ALTER COLUMN failing SET NOT NULL,
    ALTER COLUMN unknown SET NOT NULL,
    ALTER COLUMN platform SET NOT NULL,
    ALTER COLUMN platform_fail SET NOT NULL,
    ALTER COLUMN platform_warn SET NOT NULL,
    ALTER COLUMN platform_unknown SET NOT NULL,
    ALTER COLUMN platform_lists SET NOT NULL,
    ALTER COLUMN by_namespace SET NOT NULL;
