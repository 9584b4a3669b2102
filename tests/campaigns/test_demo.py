"""The demo's seeded win-back campaign shows a positive uplift whose 95% interval excludes 0; the demo survey has
answers per RFM group and call-backs for its recent detractors."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from kehu.analytics import classify
from kehu.analytics.classify import last_order_date
from kehu.config import Settings
from kehu.ingest import import_file
from kehu.sample.generate import generate_demo
from kehu.store import Campaign, Order, StoreMeta, Survey, SurveyResponse, session_scope


def _demo(tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path / "data", secret_key="test-secret-key-that-is-long-enough-0123456789",
                        predict=False, _env_file=None)
    files = generate_demo(tmp_path / "sample", customers=3000)
    import_file(settings=settings, path=files.customers_csv, kind="customers", format_name="generic")
    import_file(settings=settings, path=files.orders_csv, kind="orders", format_name="generic")
    classify(settings=settings, as_of=last_order_date(settings.store_url))
    return settings


def test_seeded_demo_campaign_and_survey(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from kehu.campaigns import campaign_result, seed_demo_campaign
    from kehu.surveys import seed_demo_survey, survey_results

    settings = _demo(tmp_path)
    with session_scope(settings.store_url) as session:
        revision = session.get(StoreMeta, "orders_revision").value  # type: ignore[union-attr]
        orders = session.scalar(select(func.count()).select_from(Order))
    campaign_id = seed_demo_campaign(settings, reclassify=False)
    assert seed_demo_campaign(settings, reclassify=False) == campaign_id  # once only
    with session_scope(settings.store_url) as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        # The orders were written with a revision bump in the same transaction.
        assert session.get(StoreMeta, "orders_revision").value == revision + 1  # type: ignore[union-attr]
        assert session.scalar(select(func.count()).select_from(Order)) > orders
        assert campaign.template == "winback" and campaign.holdout_share == 0.2
        result = campaign_result(session, campaign, today=date.today())
    assert result.finished
    assert result.holdout.customers > 100
    assert result.conversion_diff.excludes_zero and result.conversion_diff.estimate > 0
    assert result.revenue_diff_cents.excludes_zero and result.revenue_diff_cents.estimate > 0
    assert result.holdout.converted > 0  # a real baseline, from the data's own orders

    survey_id = seed_demo_survey(settings)
    with session_scope(settings.store_url) as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        results = survey_results(session, survey)
        tasks = session.scalar(select(func.count()).select_from(SurveyResponse).where(
            SurveyResponse.survey_id == survey_id, SurveyResponse.task_id.isnot(None)))
    assert results.overall.n > 100
    assert len(results.monthly) >= 6
    assert {g.key for g in results.by_group} >= {"champions", "hibernating"}
    assert tasks and tasks < results.overall.n / 5
