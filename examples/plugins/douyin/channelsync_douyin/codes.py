"""The Douyin Shop gateway's error codes, as data: which core error each one is.

Every answer carries ``code`` (10000 is success) and, on failure, ``sub_code``: a
string such as ``isv.access-token-expired`` or ``isv.business-failed:60110`` whose
part after the colon is the business code of one API. A ``sub_code`` entry wins over
its ``code``; a ``sub_code`` prefix entry (``isp.service-error:``) covers a family.
Sources: the platform's error-code summary (op.jinritemai.com guide-docs 212/1427, as
mirrored by public SDKs) and the per-API error tables of ``order.logisticsAdd``,
``order.orderDetail``, ``order.searchList`` and ``sku.syncStock``.
"""

from __future__ import annotations

from collections.abc import Mapping

from channelsync.errors import (
    AuthenticationError,
    AuthorizationError,
    ChannelError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    TransientError,
)

__all__ = [
    "ALREADY_SHIPPED",
    "CODE_ERRORS",
    "SUB_CODE_ERRORS",
    "SUB_CODE_PREFIX_ERRORS",
    "SUCCESS",
    "THROTTLE_WAIT",
    "TOKEN_REJECTED",
    "error_class",
]

#: ``code`` of a successful answer.
SUCCESS = 10000
#: ``order.logisticsAdd``: "订单已发货, 不允许再次执行发货" (the order is already shipped).
ALREADY_SHIPPED = "isv.business-failed:60110"
#: Sub-codes meaning the access token must be refreshed.
TOKEN_REJECTED = frozenset({"isv.access-token-expired", "isv.access-token-no-existed"})
#: The throttle answer carries no wait; the gateway's limits are per second.
THROTTLE_WAIT = 1.0

#: ``code`` -> error class (``code`` 10001, "partly failed", is not used by these calls).
CODE_ERRORS: Mapping[int, type[ChannelError]] = {
    10001: InvalidRequestError,  # 请求部分失败
    20000: TransientError,  # 服务不可用
    20001: TransientError,  # 内部服务超时
    30000: InvalidRequestError,  # 通用参数错误
    30001: AuthorizationError,  # 操作权限不足 (no API permission, authorization revoked)
    30002: AuthorizationError,  # 请求来源IP不可信 (IP not whitelisted)
    40001: InvalidRequestError,  # 缺少必选参数 (平台校验)
    40002: InvalidRequestError,  # 缺少必选参数 (业务校验)
    40003: InvalidRequestError,  # 非法的参数 (平台校验)
    40004: InvalidRequestError,  # 非法的参数 (业务校验)
    50000: TransientError,  # 通用服务器错误
    50001: TransientError,  # 平台处理失败
    50002: InvalidRequestError,  # 业务处理失败
    60000: RateLimitedError,  # 触发限流, 请稍后重试
    70000: InvalidRequestError,  # 接口服务已下线
    80000: AuthorizationError,  # 安全错误
    90000: TransientError,  # 其他异常
}

#: ``sub_code`` -> error class; wins over :data:`CODE_ERRORS`.
SUB_CODE_ERRORS: Mapping[str, type[ChannelError]] = {
    # 40001: credentials missing from the call.
    "isv.signature-missing": AuthenticationError,
    "isv.app-id-missing": AuthenticationError,
    "isv.access-token-missing": AuthenticationError,
    # 40003: credentials refused.
    "isv.signature-invalid": AuthenticationError,
    "isv.access-token-expired": AuthenticationError,
    "isv.access-token-no-existed": AuthenticationError,
    "isv.access-token-invalid": AuthenticationError,
    "isv.app-id-invalid": AuthenticationError,
    "isv.app-id-expired": AuthenticationError,
    "isv.authorization-type-invalid": AuthorizationError,
    "isv.idempotent-id-existed": ConflictError,
    # 30001: rights.
    "isv.app-permissions-insufficient": AuthorizationError,
    "dop.authorization-no-existed": AuthenticationError,
    "dop.authorization-closed": AuthorizationError,
    "dop.app-forbidden": AuthorizationError,
    # 50001 / 50002: the refresh token itself refused.
    "dop.token-generate-failed:token-expired": AuthenticationError,
    "dop.token-generate-failed:token-invalid": AuthenticationError,
    "dop.token-generate-failed:app-secret-invalid": AuthenticationError,
    "dop.token-generate-failed:no-authorization": AuthenticationError,
    "dop.token-generate-failed:app-forbidden": AuthorizationError,
    "isv.business-failed:31009": AuthenticationError,
    # order.orderDetail
    "isv.parameter-invalid:20001": NotFoundError,  # 订单不存在
    "isv.parameter-invalid:20014": NotFoundError,  # 查询订单不存在
    "isv.business-failed:20015": AuthorizationError,  # 非本店铺订单, 无权查询
    "isv.business-failed:20004": TransientError,  # 系统繁忙
    # order.searchList
    "isv.business-failed:20045": TransientError,
    "isv.business-failed:20055": TransientError,
    # sku.syncStock
    "isv.parameter-invalid:5": NotFoundError,  # 找不到对应的sku
    "isv.parameter-invalid:4": ConflictError,  # sku 已被删除
    "isv.business-failed:2010401": RateLimitedError,  # 请求被限流 / 系统繁忙
    "isv.business-failed:2010058": NotFoundError,  # 商品不存在
    "isv.business-failed:2010064": NotFoundError,
    # order.logisticsAdd
    "isv.business-failed:60033": NotFoundError,  # 订单不存在
    "isv.business-failed:60101": AuthorizationError,  # 非本店铺订单
    "isv.business-failed:60021": ConflictError,  # 订单已取消, 禁止发货
    "isv.business-failed:60040": ConflictError,  # 有退款申请需要处理
    "isv.business-failed:60068": ConflictError,  # 已售前退款成功
    "isv.business-failed:60109": ConflictError,  # 风控审核中
    ALREADY_SHIPPED: ConflictError,
    "isv.business-failed:60113": ConflictError,  # 订单已完结
    "isv.business-failed:60120": ConflictError,  # 订单正在售后中
    "isv.business-failed:60137": ConflictError,  # 订单未支付
    "isv.business-failed:60114": TransientError,  # 系统繁忙
    "isv.business-failed:60121": TransientError,
    "isv.business-failed:60125": TransientError,
    "isv.business-failed:70009": TransientError,
    "isv.business-failed:120018": TransientError,
    "isv.business-failed:120032": TransientError,  # 售后请求并发
}

#: ``sub_code`` prefixes -> error class, for families with a numeric tail.
SUB_CODE_PREFIX_ERRORS: Mapping[str, type[ChannelError]] = {
    "isp.service-error": TransientError,
    "dop.service-error": TransientError,
}


def error_class(code: int, sub_code: str) -> type[ChannelError]:
    """Return the core error class of a failed answer (unknown codes: invalid request)."""
    if sub_code in SUB_CODE_ERRORS:
        return SUB_CODE_ERRORS[sub_code]
    family = sub_code.split(":", 1)[0]
    if family in SUB_CODE_PREFIX_ERRORS:
        return SUB_CODE_PREFIX_ERRORS[family]
    return CODE_ERRORS.get(code, InvalidRequestError)
