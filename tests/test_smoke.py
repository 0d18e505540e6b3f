from quart.typing import TestClientProtocol as QuartClient


async def test_health(client: QuartClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = await response.get_json()
    assert body["data"] == {"status": "ok"}
    assert body["meta"]["request_id"] == response.headers["X-Request-ID"]


async def test_register_login_profile(client: QuartClient) -> None:
    created = await client.post(
        "/api/users",
        json={"name": "Alice", "email": "Alice@Example.com", "password": "s3cret-pass"},
    )
    assert created.status_code == 201, await created.get_data()
    login = await client.post(
        "/api/tokens", json={"email": "alice@example.com", "password": "s3cret-pass"}
    )
    assert login.status_code == 201, await login.get_data()
    token = (await login.get_json())["data"]["token"]
    profile = await client.get("/api/profile", headers={"Authorization": f"Bearer {token}"})
    assert profile.status_code == 200
    assert (await profile.get_json())["data"]["email"] == "alice@example.com"
