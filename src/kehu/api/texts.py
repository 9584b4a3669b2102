"""The REST API's own messages in Chinese and English, chosen per request.

An error body carries a stable ``code`` (for programs) and a ``message`` (for people). Messages raised by the library
(:class:`kehu.errors.KehuError`) are passed through as they are; the API's own ones come from :data:`MESSAGES`, in the
language of the request: ``?lang=zh|en``, else the web app's language cookie, else the ``Accept-Language`` header,
else ``settings.language``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from kehu.web.i18n import LANG_COOKIE, LANGUAGES

#: code → {language → message}; ``{name}`` placeholders are filled by :func:`message`.
MESSAGES: dict[str, dict[str, str]] = {
    "not_authenticated": {
        "zh": "需要登录：请在 Authorization 头中提供 Bearer 令牌（POST /api/v1/token 获取），"
              "或在 X-API-Key 头中提供 API 密钥",
        "en": "sign-in required: send a bearer token in the Authorization header (get one from POST /api/v1/token) "
              "or an API key in the X-API-Key header",
    },
    "invalid_token": {
        "zh": "令牌无效：请重新获取（POST /api/v1/token）",
        "en": "the token is not valid; get a new one from POST /api/v1/token",
    },
    "token_expired": {
        "zh": "令牌已过期（有效期 {minutes} 分钟）：请重新获取（POST /api/v1/token）",
        "en": "the token has expired (tokens last {minutes} minutes); get a new one from POST /api/v1/token",
    },
    "invalid_api_key": {
        "zh": "API 密钥无效或已撤销",
        "en": "the API key is not valid or was revoked",
    },
    "account_disabled": {
        "zh": "该账户已停用或不存在",
        "en": "this account is disabled or no longer exists",
    },
    "invalid_credentials": {
        "zh": "用户名或密码错误",
        "en": "wrong username or password",
    },
    "throttled": {
        "zh": "登录失败次数过多，请 {minutes} 分钟后再试",
        "en": "too many failed sign-ins; try again in {minutes} minutes",
    },
    "forbidden": {
        "zh": "您的角色（{role}）没有权限 {permission}",
        "en": "your role ({role}) does not have the permission {permission}",
    },
    "token_required": {
        "zh": "创建 API 密钥需要用密码登录获得的令牌，不能用另一个 API 密钥",
        "en": "creating an API key needs a token from a password sign-in, not another API key",
    },
    "not_found": {
        "zh": "没有这个地址：{path}",
        "en": "no such address: {path}",
    },
    "method_not_allowed": {
        "zh": "此地址不支持 {method} 请求",
        "en": "{method} is not allowed on this address",
    },
    "invalid_request": {
        "zh": "请求有误：{details}",
        "en": "invalid request: {details}",
    },
    "bad_request": {
        "zh": "请求有误",
        "en": "bad request",
    },
    "conflict": {
        "zh": "与现有数据冲突",
        "en": "conflicts with existing data",
    },
    "too_large": {
        "zh": "上传文件超过 {limit_mb} MB 的上限",
        "en": "the upload is larger than the {limit_mb} MB limit",
    },
    "unsupported_media_type": {
        "zh": "请用 multipart/form-data 上传文件",
        "en": "send the file as multipart/form-data",
    },
    "internal_error": {
        "zh": "服务器内部错误，已记录；请稍后再试或联系管理员",
        "en": "internal server error (logged); try again later or ask your administrator",
    },
    "unavailable": {
        "zh": "服务暂不可用",
        "en": "service unavailable",
    },
    "error": {
        "zh": "请求失败",
        "en": "the request failed",
    },
    "customer_exists": {
        "zh": "来源 {source} 中已有客户编号 {external_id}",
        "en": "source {source} already has a customer with id {external_id}",
    },
    "customer_has_orders": {
        "zh": "客户 {customer_id} 有 {orders} 笔订单，不能删除（订单需保留用于统计）；如需删除其个人信息，请由管理员"
              "执行隐私擦除：kehu privacy erase {external_id} --source {source}，擦除后订单匿名保留",
        "en": "customer {customer_id} has {orders} orders and cannot be deleted (orders are kept for the figures); "
              "to remove their personal data an admin runs a privacy erase: kehu privacy erase {external_id} "
              "--source {source}, which keeps the orders anonymised",
    },
    "customer_erased": {
        "zh": "客户 {customer_id} 的个人信息已按其要求擦除，不能再编辑",
        "en": "customer {customer_id} was erased on request and cannot be edited",
    },
    "no_rejects": {
        "zh": "导入 {run_id} 没有被拒绝的行（或拒绝文件已不存在）",
        "en": "import run {run_id} has no rejected rows (or its rejects file is gone)",
    },
    "snapshot_not_ready": {
        "zh": "快照 {snapshot_id} 尚未完成（状态 {status}），其行暂不可见",
        "en": "snapshot {snapshot_id} is not ready (status {status}); its rows are not visible yet",
    },
    "no_classification": {
        "zh": "客户 {customer_id} 不在快照 {snapshot_id}（{as_of}）中",
        "en": "customer {customer_id} is not in snapshot {snapshot_id} ({as_of})",
    },
    "no_snapshot": {
        "zh": "还没有已完成的分类快照：请先运行 kehu classify",
        "en": "no ready classification snapshot yet; run `kehu classify` first",
    },
    "reveal_forbidden": {
        "zh": "您的角色（{role}）不能查看明文个人信息（需要权限 reveal_pii）",
        "en": "your role ({role}) may not see personal fields in plain text (needs the permission reveal_pii)",
    },
    "docs_title": {"zh": "kehu REST API 参考", "en": "kehu REST API reference"},
    "docs_intro": {
        "zh": "全部接口位于 /api/v1 下。用 POST /api/v1/token 换取 Bearer 令牌，或在 X-API-Key 头中使用 API 密钥。"
              "机器可读的 OpenAPI 文档：",
        "en": "Every endpoint lives under /api/v1. Exchange a username and password for a bearer token at "
              "POST /api/v1/token, or send an API key in the X-API-Key header. The machine-readable OpenAPI "
              "document:",
    },
    "docs_offline": {
        "zh": "本页面由服务器根据 OpenAPI 文档生成，不从任何 CDN 加载脚本（未安装本地 Swagger UI 资源）。",
        "en": "This page is rendered by the server from the OpenAPI document; nothing is loaded from a CDN "
              "(no local Swagger UI assets are installed).",
    },
    "docs_permission": {"zh": "所需权限", "en": "permission"},
    "docs_parameters": {"zh": "参数", "en": "parameters"},
    "docs_body": {"zh": "请求体", "en": "request body"},
    "docs_responses": {"zh": "响应", "en": "responses"},
    "docs_public": {"zh": "无需登录", "en": "no sign-in needed"},
}


def request_lang(request: Request) -> str:
    """``zh`` or ``en`` for this request: ``?lang=``, the language cookie, ``Accept-Language``, the setting."""
    chosen = request.query_params.get("lang")
    if chosen in LANGUAGES:
        return chosen
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in LANGUAGES:
        return cookie
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    settings = getattr(request.app.state, "settings", None)
    default = getattr(settings, "language", "zh")
    return default if default in LANGUAGES else "zh"


def message(code: str, lang: str, **params: Any) -> str:
    """The message of ``code`` in ``lang`` (English when the language is unknown) with ``params`` filled in.

    A code without a message (a programming error) falls back to the generic ``error`` text rather than failing.
    """
    texts = MESSAGES.get(code) or MESSAGES["error"]
    template = texts.get(lang) or texts["en"]
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return template
