from .factories import user_with_token
from .helpers import Client, bearer, register


async def test_health(client: Client) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = await response.get_json()
    assert body["data"] == {"status": "ok"}
    assert body["meta"]["request_id"] == response.headers["X-Request-ID"]


async def test_register_login_profile(client: Client) -> None:
    user, token = await user_with_token(client)
    profile = await client.get("/api/profile", headers=bearer(token))
    assert profile.status_code == 200
    assert (await profile.get_json())["data"] == user


async def test_email_is_stored_lower_cased(client: Client) -> None:
    user = await register(client, email="  Alice@Example.COM ")
    assert user["email"] == "alice@example.com"
