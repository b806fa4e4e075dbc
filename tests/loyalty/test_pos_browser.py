"""The cashier's page in a real browser (Playwright driving Debian's Chromium) against a live server."""

import io
import re
from decimal import Decimal

import pytest
import segno
from PIL import Image

from loyalty.models import LoyaltyTransaction
from tests.browser import chromium, needs_chromium, screenshot
from tests.factories import CustomerFactory, ProgramFactory, RewardFactory, StaffMemberFactory, StoreFactory, make_card

pytestmark = [pytest.mark.browser, needs_chromium, pytest.mark.django_db(transaction=True)]

Type = LoyaltyTransaction.Type
TIMEOUT = 10_000


def sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/pos/")
    assert "/pos/login/" in page.url
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pass-word-1234")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/pos/", timeout=TIMEOUT)


def scan(page, text):
    field = page.get_by_label("Scan the card, or type a card number, email or phone")
    field.fill(text)
    field.press("Enter")


def enter_pin(page, pin="1234"):
    dialog = page.locator("#pin-dialog")
    dialog.wait_for(state="visible", timeout=TIMEOUT)
    for digit in pin:
        dialog.get_by_role("button", name=digit, exact=True).click()
    dialog.get_by_role("button", name="OK").click()


def status(page):
    return page.locator("#status")


def test_cashier_scans_stamps_earns_and_redeems(browser, live_server, request):
    program = ProgramFactory(
        stamps_target=3,
        require_staff_pin=True,
        points_per_euro=Decimal("1.00"),
        stamp_reward_description="A free coffee",
    )
    store = StoreFactory(merchant=program.merchant, code="main", name="Main street")
    cashier = StaffMemberFactory(merchant=program.merchant, stores=[store])
    croissant = RewardFactory(program=program, name="Croissant", points_cost=10)
    customer = CustomerFactory(merchant=program.merchant, first_name="Zoé", last_name="<b>Martin</b>")
    card = make_card(program=program, store=store, customer=customer)

    page = browser.new_page(viewport={"width": 768, "height": 1024})
    sign_in(page, live_server, cashier.user.username)
    assert page.evaluate("document.activeElement.id") == "scan-input"

    scan(page, card.card_number.replace("-", ""))
    name = page.locator("#customer-name")
    name.wait_for(state="visible", timeout=TIMEOUT)
    assert name.text_content() == "Zoé <b>Martin</b>"  # shown as text, not markup
    assert page.locator("#points-balance").text_content() == "0"
    assert page.locator("#stamp-row .stamp").count() == 3
    assert page.locator("#stamp-row .stamp.filled").count() == 0
    screenshot(page, request, "1-card")

    # Add a stamp (the program asks for the PIN, typed on the keypad; a wrong one is refused first).
    page.get_by_role("button", name="Add stamp").click()
    enter_pin(page, "9999")
    page.locator("#pin-error").get_by_text("Wrong PIN").wait_for(timeout=TIMEOUT)
    enter_pin(page)
    status(page).get_by_text("Stamp added: 1 of 3.").wait_for(timeout=TIMEOUT)
    assert page.locator("#stamp-row .stamp.filled").count() == 1
    assert page.locator("#stamp-hint").text_content() == "2 more stamps until: A free coffee"

    # Earn points for 12.50 on the amount keypad.
    page.get_by_role("button", name="Earn points").click()
    dialog = page.locator("#earn-dialog")
    for key in "12.50":
        dialog.locator(".keypad").get_by_role("button", name=key, exact=True).click()
    assert dialog.get_by_label("Purchase amount (€)").input_value() == "12.50"
    assert page.locator("#earn-preview").text_content() == "= 12 points"
    dialog.get_by_label("Order number (optional)").fill("T-100")
    dialog.get_by_role("button", name="Earn points").click()
    enter_pin(page)
    status(page).get_by_text("12 points earned. Balance: 12 points.").wait_for(timeout=TIMEOUT)
    assert page.locator("#points-balance").text_content() == "12"
    assert page.locator("#rewards-list").text_content().startswith("Croissant")
    screenshot(page, request, "2-after-earn")

    # Redeem the reward they can now afford.
    page.get_by_role("button", name="Redeem reward").click()
    page.locator("#redeem-dialog").get_by_role("button", name=re.compile("^Croissant")).click()
    enter_pin(page)
    status(page).get_by_text("Croissant redeemed: 10 points. Balance: 2 points.").wait_for(timeout=TIMEOUT)
    assert page.locator("#points-balance").text_content() == "2"
    rows = page.locator("#transactions-body tr")
    assert rows.count() == 4
    assert "Points redeemed: Croissant" in rows.nth(0).text_content()
    screenshot(page, request, "3-after-redeem")

    # A refusal shows the API's words: redeeming again is refused for lack of points.
    page.get_by_role("button", name="Redeem reward").click()
    page.locator("#redeem-dialog").get_by_label("Or redeem an amount of points").fill("5")
    page.locator("#redeem-dialog").get_by_role("button", name="Redeem points").click()
    # The card on screen cannot afford it: said at once, no PIN asked.
    page.locator("#error").get_by_text("The card has 2 points; this needs 5.").wait_for(timeout=TIMEOUT)
    assert not page.locator("#pin-dialog").is_visible()

    # A return: void the points of the purchase (only what is left on the card can go).
    page.get_by_role("button", name="Void points").click()
    page.locator("#void-dialog").get_by_role("button", name=re.compile("order T-100")).click()
    enter_pin(page)
    status(page).get_by_text("2 points voided. Balance: 0 points.").wait_for(timeout=TIMEOUT)

    page.set_viewport_size({"width": 1366, "height": 768})
    screenshot(page, request, "4-landscape")

    card.refresh_from_db()
    assert (card.stamp_count, card.points_balance) == (1, 0)
    ledger = list(card.transactions.order_by("id").values_list("type", "staff_user", "store"))
    assert ledger[1:] == [
        (Type.STAMP, cashier.user.pk, store.pk),
        (Type.POINTS_EARN, cashier.user.pk, store.pk),
        (Type.POINTS_REDEEM, cashier.user.pk, store.pk),
        (Type.POINTS_VOID, cashier.user.pk, store.pk),
    ]
    assert card.transactions.get(type=Type.POINTS_REDEEM).reward == croissant
    assert all(card.transactions.exclude(type=Type.WELCOME_BONUS).values_list("idempotency_key", flat=True))


def test_double_tap_and_network_retry_stamp_once(browser, live_server, request):
    program = ProgramFactory(stamps_target=5)
    main = StoreFactory(merchant=program.merchant, code="main", name="Main street")
    station = StoreFactory(merchant=program.merchant, code="station", name="Station")
    manager = StaffMemberFactory(merchant=program.merchant, stores=[main, station], role="manager")
    card = make_card(program=program, store=main)

    page = browser.new_page(viewport={"width": 1366, "height": 768})
    sign_in(page, live_server, manager.user.username)
    scan(page, card.customer.email)
    page.locator("#customer-name").wait_for(state="visible", timeout=TIMEOUT)

    # Several stores: the page asks which one first.
    page.get_by_role("button", name="Add stamp").click()
    page.locator("#error").get_by_text("Choose the store you are working at first.").wait_for(timeout=TIMEOUT)
    page.get_by_label("Store").select_option("station")

    # A double tap sends one request.
    page.get_by_role("button", name="Add stamp").dblclick()
    status(page).get_by_text("Stamp added: 1 of 5.").wait_for(timeout=TIMEOUT)
    page.wait_for_timeout(500)
    assert card.transactions.filter(type=Type.STAMP).count() == 1

    # The answer is lost on the way back: the page retries with the same key; one stamp.
    keys = []

    def lose_first_answer(route):
        keys.append(route.request.headers["idempotency-key"])
        if len(keys) == 1:
            route.fetch()  # the server applies it...
            route.abort("connectionreset")  # ...but the till never hears back
        else:
            route.continue_()

    page.route("**/api/v1/cards/*/stamp/", lose_first_answer)
    page.get_by_role("button", name="Add stamp").click()
    status(page).get_by_text("Stamp added: 2 of 5.").wait_for(timeout=TIMEOUT)
    page.unroute("**/api/v1/cards/*/stamp/")
    assert len(keys) == 2 and keys[0] == keys[1]
    assert card.transactions.filter(type=Type.STAMP).count() == 2
    assert card.transactions.filter(idempotency_key=keys[0]).count() == 1

    # A refusal is shown in the API's words.
    program.stamp_cooldown_minutes = 10
    program.save()
    page.get_by_role("button", name="Add stamp").click()
    page.locator("#error").get_by_text(re.compile("stamped moments ago")).wait_for(timeout=TIMEOUT)
    screenshot(page, request, "cooldown")

    # Managers adjust with a reason.
    page.get_by_role("button", name="Adjust").click()
    adjust = page.locator("#adjust-dialog")
    adjust.get_by_label("Points (+ to add, − to remove)").fill("25")
    adjust.get_by_role("button", name="Adjust").click()
    adjust.get_by_text("Say why").wait_for(timeout=TIMEOUT)
    adjust.get_by_label("Reason (required)").fill("Lost receipt")
    adjust.get_by_role("button", name="Adjust").click()
    status(page).get_by_text(re.compile("^Balance adjusted")).wait_for(timeout=TIMEOUT)
    assert page.locator("#points-balance").text_content() == "25"

    card.refresh_from_db()
    assert card.stamp_count == 2 and card.points_balance == 25
    assert set(card.transactions.filter(type=Type.STAMP).values_list("store__code", flat=True)) == {"station"}


def write_qr_video(path, text: str, width: int = 640, height: int = 480) -> None:
    """A Y4M clip of ``text`` as a QR code, for Chromium's fake camera (it loops the file)."""
    png = io.BytesIO()
    segno.make(text, error="m").save(png, kind="png", scale=8, border=4)
    qr = Image.open(png).convert("RGB")
    frame = Image.new("RGB", (width, height), "white")
    frame.paste(qr, ((width - qr.width) // 2, (height - qr.height) // 2))
    luma, blue, red = frame.convert("YCbCr").split()
    half = (width // 2, height // 2)
    data = b"FRAME\n" + luma.tobytes() + blue.resize(half).tobytes() + red.resize(half).tobytes()
    path.write_bytes(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode() + data * 10)


def test_camera_reads_the_card_qr_where_the_browser_has_no_qr_reader(live_server, request, tmp_path):
    program = ProgramFactory()
    store = StoreFactory(merchant=program.merchant, code="main")
    cashier = StaffMemberFactory(merchant=program.merchant, stores=[store])
    card = make_card(
        program=program, store=store, customer=CustomerFactory(merchant=program.merchant, first_name="Ada")
    )
    clip = tmp_path / "qr.y4m"
    write_qr_video(clip, f"https://loyalty.example/card/{card.qr_code_data}/")  # what the card's QR holds

    fake_camera = (
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={clip}",
    )
    with chromium(*fake_camera) as browser:
        page = browser.new_page(viewport={"width": 768, "height": 1024})
        sign_in(page, live_server, cashier.user.username)
        # Desktop Chromium has no BarcodeDetector: this is the vendored jsQR path (as on an iPad).
        assert page.evaluate("'BarcodeDetector' in window") is False
        page.get_by_role("button", name="Camera").dblclick()  # a double tap opens one camera, not two
        name = page.locator("#customer-name")
        name.wait_for(state="visible", timeout=TIMEOUT)
        assert name.text_content().startswith("Ada")
        assert page.locator("#card-number").text_content() == card.card_number
        assert not page.locator("#camera-dialog").evaluate("dialog => dialog.open")
        assert page.evaluate("document.getElementById('camera-video').srcObject.getTracks()[0].readyState") == "ended"
        screenshot(page, request, "card-from-camera")
