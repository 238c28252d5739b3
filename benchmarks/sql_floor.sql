-- The floor of the evaluation figure: every organization's evaluated and effective level in every
-- competency as of %(day)s, computed by PostgreSQL alone over the same rows the engine reads
-- (docs/design.md, "Evaluation"). A few statements run in one transaction: the first ones spell the
-- catalog's requirements out as small tables (so the planner knows their sizes), the last one is the
-- set-based aggregate and returns the organization × competency pairs above none:
-- (organization_id, competency_id, evaluated rank, effective rank), 1 silver, 2 gold.

-- Memory for the hash aggregates, no JIT: the best this server does with the statement.
SET LOCAL work_mem = '256MB';
SET LOCAL jit = off;

-- Each requirement with what its option needs: the option's size, competency and level rank.
CREATE TEMPORARY TABLE floor_req ON COMMIT DROP AS
SELECT r.id AS requirement_id, r.kind, r.params, r.option_id, o.competency_id,
       CASE o.level WHEN 'gold' THEN 2 ELSE 1 END AS rank,
       count(*) OVER (PARTITION BY r.option_id) AS option_size
FROM competencies_requirement r
JOIN competencies_attainmentoption o ON o.id = r.option_id;

-- certified_people: `count` people, each holding a valid credential of every group. any_of is one
-- group, all_of one group per code, groups as given (the engine's order of precedence).
CREATE TEMPORARY TABLE floor_people ON COMMIT DROP AS
SELECT requirement_id, params, mode,
       COALESCE((params->>'count')::int, 1) AS need,
       CASE mode WHEN 'any_of' THEN 1
                 WHEN 'all_of' THEN jsonb_array_length(params->'all_of')
                 ELSE jsonb_array_length(COALESCE(params->'groups', '[]'::jsonb)) END AS n_groups
FROM (
    SELECT requirement_id, params,
           CASE WHEN jsonb_typeof(params->'any_of') = 'array' THEN 'any_of'
                WHEN jsonb_typeof(params->'all_of') = 'array' THEN 'all_of'
                ELSE 'groups' END AS mode
    FROM floor_req WHERE kind = 'certified_people'
) p;

-- requirement × credential: the groups (as bits) the credential belongs to, and the bits of all groups.
CREATE TEMPORARY TABLE floor_group_credential ON COMMIT DROP AS
SELECT g.requirement_id, cr.id AS credential_id, bit_or(1::bigint << (g.grp - 1)::int) AS bits,
       min((1::bigint << g.n_groups) - 1) AS all_groups
FROM (
    SELECT p.requirement_id, p.n_groups, 1::bigint AS grp, c.code
    FROM floor_people p CROSS JOIN LATERAL jsonb_array_elements_text(p.params->'any_of') AS c(code)
    WHERE p.mode = 'any_of'
    UNION ALL
    SELECT p.requirement_id, p.n_groups, c.ord, c.code
    FROM floor_people p CROSS JOIN LATERAL jsonb_array_elements_text(p.params->'all_of') WITH ORDINALITY AS c(code, ord)
    WHERE p.mode = 'all_of'
    UNION ALL
    SELECT p.requirement_id, p.n_groups, g.ord, c.code
    FROM floor_people p
    CROSS JOIN LATERAL jsonb_array_elements(COALESCE(p.params->'groups', '[]'::jsonb)) WITH ORDINALITY AS g(codes, ord)
    CROSS JOIN LATERAL jsonb_array_elements_text(g.codes) AS c(code)
    WHERE p.mode = 'groups'
) g
JOIN competencies_credential cr ON cr.code = g.code
-- a retired credential no longer counts from accepted_until: it joins nothing
WHERE cr.accepted_until IS NULL OR cr.accepted_until > %(day)s
GROUP BY g.requirement_id, cr.id;

-- metric: the sum of values with period_end in (D - window_days, D] is at least the market's threshold.
CREATE TEMPORARY TABLE floor_metric_req ON COMMIT DROP AS
SELECT r.requirement_id, m.id AS metric_id,
       COALESCE((r.params->>'window_days')::int, 365) AS window_days,
       CASE WHEN jsonb_typeof(r.params->'at_least') = 'object' THEN r.params->'at_least' ELSE '{}'::jsonb END
           AS by_market,
       CASE WHEN jsonb_typeof(r.params->'at_least') = 'object'
            THEN COALESCE((r.params->'at_least'->>'developed')::numeric, 0)
            ELSE COALESCE((r.params->>'at_least')::numeric, 0) END AS need_default
FROM floor_req r LEFT JOIN competencies_metric m ON m.slug = r.params->>'metric'
WHERE r.kind = 'metric';

ANALYZE floor_req, floor_people, floor_group_credential, floor_metric_req;

WITH
members AS (  -- an employee counts for O on D when an association with O covers D
    SELECT DISTINCT a.organization_id, a.employee_id
    FROM competencies_association a
    WHERE a.starts_on <= %(day)s AND (a.ends_on IS NULL OR a.ends_on > %(day)s)
),
-- certified_people: at least `count` members each holding, valid on D, a credential of every group.
people_met AS (
    SELECT organization_id, requirement_id
    FROM (  -- organization × member × requirement: the member holds, valid on D, a credential of every group
        SELECT m.organization_id, m.employee_id, gc.requirement_id
        FROM members m
        JOIN competencies_earnedcredential e ON e.employee_id = m.employee_id
        JOIN floor_group_credential gc ON gc.credential_id = e.credential_id
        WHERE e.earned_on <= %(day)s AND (e.expires_on IS NULL OR e.expires_on > %(day)s)
        GROUP BY m.organization_id, m.employee_id, gc.requirement_id
        HAVING bit_or(gc.bits) = min(gc.all_groups)
    ) holder
    JOIN floor_people p USING (requirement_id)
    GROUP BY organization_id, requirement_id
    HAVING count(*) >= min(p.need)
    UNION ALL  -- a count of zero holds with no one
    SELECT o.id, p.requirement_id FROM floor_people p CROSS JOIN competencies_organization o WHERE p.need <= 0
),
metric_sum AS (  -- one sum per organization × metric × window, however many requirements share it
    SELECT v.organization_id, o.market, w.metric_id, w.window_days, sum(v.value) AS have
    FROM (SELECT DISTINCT metric_id, window_days FROM floor_metric_req WHERE metric_id IS NOT NULL) w
    JOIN competencies_metricvalue v
      ON v.metric_id = w.metric_id
     AND v.period_end > %(day)s::date - w.window_days AND v.period_end <= %(day)s
    JOIN competencies_organization o ON o.id = v.organization_id
    GROUP BY v.organization_id, o.market, w.metric_id, w.window_days
),
metric_met AS (
    SELECT s.organization_id, mr.requirement_id
    FROM metric_sum s
    JOIN floor_metric_req mr ON mr.metric_id = s.metric_id AND mr.window_days = s.window_days
    WHERE s.have >= COALESCE((mr.by_market->>s.market)::numeric, mr.need_default)
      AND COALESCE((mr.by_market->>s.market)::numeric, mr.need_default) > 0
    UNION ALL  -- a threshold of zero holds with no value at all
    SELECT o.id, mr.requirement_id
    FROM (SELECT * FROM floor_metric_req
          WHERE need_default <= 0
             OR EXISTS (SELECT 1 FROM jsonb_each_text(by_market) t WHERE t.value::numeric <= 0)) mr
    CROSS JOIN competencies_organization o
    WHERE COALESCE((mr.by_market->>o.market)::numeric, mr.need_default) <= 0
),
-- An option is met when every requirement in it holds (one without requirements never is);
-- the evaluated level is gold if a gold option is met, else silver if a silver one is.
evaluated AS (
    SELECT organization_id, competency_id, max(rank) AS rank
    FROM (
        SELECT rm.organization_id, r.option_id, min(r.competency_id) AS competency_id, min(r.rank) AS rank
        FROM (SELECT * FROM people_met UNION ALL SELECT * FROM metric_met) rm
        JOIN floor_req r ON r.requirement_id = rm.requirement_id
        GROUP BY rm.organization_id, r.option_id
        HAVING count(*) = min(r.option_size)
    ) option_met
    GROUP BY organization_id, competency_id
),
overridden AS (  -- active on D: starts_on <= D < expires_on, not revoked
    SELECT organization_id, competency_id, max(CASE level WHEN 'gold' THEN 2 ELSE 1 END) AS rank
    FROM competencies_override
    WHERE state = 'active' AND starts_on <= %(day)s AND expires_on > %(day)s
    GROUP BY organization_id, competency_id
)
SELECT COALESCE(e.organization_id, v.organization_id),
       COALESCE(e.competency_id, v.competency_id),
       COALESCE(e.rank, 0),
       GREATEST(COALESCE(e.rank, 0), COALESCE(v.rank, 0))  -- an override raises, never lowers
FROM evaluated e
FULL JOIN overridden v ON v.organization_id = e.organization_id AND v.competency_id = e.competency_id;
