"""One-time codes and links found in message bodies (`ephemail.mime.extract`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ephemail.mime.extract import (
    MAX_CONTEXT,
    MAX_LINKS,
    FoundCode,
    FoundLink,
    extract_codes,
    extract_links,
)
from ephemail.mime.summary import parse_summary

CORPUS = Path(__file__).resolve().parent.parent / "corpus"

# -- codes: realistic verification mails ----------------------------------------------------

# (name, text part, html part, expected code values)
POSITIVES: list[tuple[str, str | None, str | None, list[str]]] = [
    (
        "github device verification",
        "Hey octocat!\n\nA sign in attempt requires further verification because we did not "
        "recognize your device. To complete the sign in, enter the verification code on the "
        "unrecognized device.\n\nDevice: Firefox on Linux\nVerification code: 482913\n\n"
        "If you did not attempt to sign in to your account, your password may be compromised.\n"
        "Thanks,\nThe GitHub Team",
        None,
        ["482913"],
    ),
    (
        "github launch code",
        "Here is your GitHub launch code: 90817263\n\nContinue signing up for GitHub by "
        "entering the code above.",
        None,
        ["90817263"],
    ),
    (
        "google inline",
        "Google\n\nVerify your email address\n\nGoogle received a request to use "
        "jane@example.com as a recovery email for Google Account john@example.com.\n\n"
        "Use this code to finish setting up this recovery email:\n\n305719\n\n"
        "This code will expire in 24 hours.\n\nGoogle LLC, 1600 Amphitheatre Parkway, "
        "Mountain View, CA 94043, USA",
        None,
        ["305719"],
    ),
    (
        "google sms style with G- prefix",
        "G-482913 is your Google verification code.",
        None,
        ["482913"],
    ),
    (
        "slack confirmation code with hyphen",
        "Confirm your email address\n\nYour confirmation code is below — enter it in your open "
        "browser window and we'll help you get signed in.\n\nQ7X-4KP\n\nIf you didn't request "
        "this email, there's nothing to worry about — you can safely ignore it.",
        None,
        ["Q7X4KP"],
    ),
    (
        "slack letters only, alone on its line",
        "Your confirmation code is below\n\nBQK-ZMW\n\nThanks, the team",
        None,
        ["BQKZMW"],
    ),
    (
        "microsoft security code",
        "Microsoft account\n\nSecurity code\n\nPlease use the following security code for the "
        "Microsoft account jo***@example.com.\n\nSecurity code: 7301\n\nIf you don't recognize "
        "the Microsoft account jo***@example.com, you can click here to remove your email "
        "address from that account.\n\nThanks,\nThe Microsoft account team",
        None,
        ["7301"],
    ),
    (
        "amazon otp",
        "Your One Time Password (OTP) is: 562308\n\nDon't share this OTP with anyone. Amazon "
        "takes your account security very seriously. Amazon Customer Service will never ask "
        "you to disclose or verify your Amazon password, OTP, credit card, or banking account "
        "number.",
        None,
        ["562308"],
    ),
    (
        "apple grouped digits",
        "Apple ID\n\nHere is your verification code:\n\n482 913\n\nYour Apple ID (j@example.com) "
        "is being used to sign in to a device. Do not share this code with anyone.",
        None,
        ["482913"],
    ),
    (
        "bank tan",
        "Sehr geehrte Kundin, sehr geehrter Kunde,\n\nIhre TAN für die Überweisung über "
        "1.250,00 EUR lautet: 83920147\n\nIhre Musterbank",
        None,
        ["83920147"],
    ),
    (
        "paypal security code",
        "PayPal: Your security code is 419207. Your code expires in 10 minutes. Please don't "
        "reply.",
        None,
        ["419207"],
    ),
    (
        "discord login code after sentence",
        "Hey there,\n\nHere is the code you need to log in to your account:\n\n837291\n\n"
        "If you did not request this, please change your password.",
        None,
        ["837291"],
    ),
    (
        "steam guard mixed",
        "Dear gamer42,\n\nHere is the Steam Guard code you need to login to account gamer42:\n\n"
        "F7K2Q\n\nThis email was generated because of a login attempt from a web or mobile "
        "device located at 203.0.113.7 (DE).",
        None,
        ["F7K2Q"],
    ),
    (
        "code then keyword after it",
        "482913 is your Instagram code. Don't share it.",
        None,
        ["482913"],
    ),
    (
        "keyword a few words before",
        "Your verification code for Acme Cloud is 771204 and is valid for one use.",
        None,
        ["771204"],
    ),
    (
        "x verification below heading",
        "Confirm your email address\n\nThere's one quick step you need to complete before "
        "creating your X account. Let's make sure this is the right email address for you — "
        "please confirm this is the right address to use for your new account.\n\n"
        "Please enter this verification code to get started on X:\n\n639201\n\n"
        "Verification codes expire after two hours.",
        None,
        ["639201"],
    ),
    (
        "german ihr code",
        "Hallo Max,\n\nIhr Code lautet: 594031\n\nDer Code ist 15 Minuten gültig.",
        None,
        ["594031"],
    ),
    (
        "german compound word",
        "Dein Bestätigungscode für Zalando ist 5821. Gib ihn in der App ein.",
        None,
        ["5821"],
    ),
    (
        "german sparkasse pushtan",
        "Ihre pushTAN: 394857\nAuftrag: Überweisung an Max Mustermann",
        None,
        ["394857"],
    ),
    (
        "spanish verification",
        "Hola Ana,\n\nTu código de verificación es 482913. Caduca en 10 minutos.\n\nSaludos",
        None,
        ["482913"],
    ),
    (
        "spanish bank clave",
        "Estimado cliente:\n\nSu clave de seguridad es: 83920147\n\nNo la comparta con nadie.",
        None,
        ["83920147"],
    ),
    (
        "french verification",
        "Bonjour,\n\nVotre code de vérification est : 482913\n\nCe code expire dans 10 minutes.",
        None,
        ["482913"],
    ),
    (
        "french one-time password mixed",
        "Bonjour,\n\nVoici votre mot de passe à usage unique : 7K2Q9A\n\nCordialement",
        None,
        ["7K2Q9A"],
    ),
    (
        "italian",
        "Ciao,\n\nil tuo codice di verifica è 482913\n\nGrazie",
        None,
        ["482913"],
    ),
    (
        "dutch compound",
        "Hallo,\n\nJe verificatiecode is 663920.\n\nMet vriendelijke groet",
        None,
        ["663920"],
    ),
    (
        "portuguese",
        "Olá,\n\nSeu código de acesso é 4829.\n\nObrigado",
        None,
        ["4829"],
    ),
    (
        "polish",
        "Witaj,\n\nTwój kod weryfikacyjny to 482913.",
        None,
        ["482913"],
    ),
    (
        "html only, code in its own cell",
        None,
        "<html><head><style>td{font:16px Arial}</style></head><body><table><tr><td>"
        '<h1>Your verification code</h1></td></tr><tr><td style="font-size:32px;'
        'letter-spacing:6px;color:#1a73e8"><b>928374</b></td></tr><tr><td>This code expires '
        "in 10 minutes. &copy; 2024 Acme Inc.</td></tr></table></body></html>",
        ["928374"],
    ),
    (
        "html only, one digit per cell",
        None,
        "<p>Enter this code to sign in:</p><table><tr><td>4</td><td>8</td><td>2</td><td>9</td>"
        "<td>1</td><td>3</td></tr></table><p>It expires soon.</p>",
        ["482913"],
    ),
    (
        "html used when the text part holds no code",
        "Your email client cannot show this message. Open it in a browser.",
        "<p>Your login code is <strong>A7K2Q9</strong></p>",
        ["A7K2Q9"],
    ),
    (
        "hyphen grouped digits",
        "Use code 123-456 to sign in. It expires in 5 minutes.",
        None,
        ["123456"],
    ),
    (
        "pin",
        "Your new PIN is 4821. Keep it secret.",
        None,
        ["4821"],
    ),
    (
        "markdown bold",
        "Your passcode: **82K9QX**",
        None,
        ["82K9QX"],
    ),
    (
        "year-like code right after the keyword",
        "Your one-time code: 2019",
        None,
        ["2019"],
    ),
    (
        "two different codes, duplicates removed",
        "Your code: 482913\nBackup code: 112233\nAgain, your code: 482913",
        None,
        ["482913", "112233"],
    ),
    (
        "address on the line, code right after the keyword",
        "Acme, 350 Fifth Avenue, New York, NY 10118. Your code: 482913",
        None,
        ["482913"],
    ),
    (
        "amount between keyword and code",
        "Ihre TAN für die Überweisung über 1.250,00 EUR an Max lautet 55120934",
        None,
        ["55120934"],
    ),
    (
        "code line below then keyword line",
        "Hi!\n\n740192\n\nThis is your verification code for Example.",
        None,
        ["740192"],
    ),
]

NEGATIVES: list[tuple[str, str | None, str | None]] = [
    ("promo code and copyright year", "Use promo code SAVE20 at checkout! © 2024 Shop Inc.", None),
    ("order and price", "Order #123456 confirmed.\nTotal: $1234.56\nThanks for your order.", None),
    (
        "phone number near a code word",
        "If you did not request this code, call us at +1 (555) 123-4567.",
        None,
    ),
    (
        "address footer under a security mail",
        "Security alert\n\nA new sign-in on Linux.\n\nGoogle LLC, 1600 Amphitheatre Parkway, "
        "Mountain View, CA 94043, USA",
        None,
    ),
    ("hex colour after code", "Code colour #a1b2c3 and background #FF0000.", None),
    ("words in capitals", "HELLO! PLEASE VERIFY YOUR EMAIL ADDRESS BELOW. THANKS", None),
    (
        "code inside a URL",
        "Verify here: https://example.com/verify?code=123456&user=99887766",
        None,
    ),
    ("code inside an email address", "Your code was sent to code4567@example.com.", None),
    ("date after code", "Your code expires on 12 March 2024 at 10:30.", None),
    ("price with a code word", "Your discount code gives you 1500 EUR off.", None),
    (
        "german address footer",
        "Sicherheitshinweis: Wir fragen nie nach Ihrer PIN.\nMusterbank AG, Musterstraße 1, "
        "10115 Berlin",
        None,
    ),
    ("time after code", "The code is valid until 14:45 today.", None),
    ("invoice number", "Invoice number 20241234 – verification of your payment", None),
    ("german voucher", "Dein Gutscheincode: SOMMER24 – jetzt einlösen!", None),
    ("no keyword", "Meeting in room 4512 tomorrow at 9.\nBring the 2023 report.", None),
    ("tracking number", "Tracking number 1Z999AA10123456784 for your order code.", None),
    ("error code", "Error code 4012: the request failed.", None),
    ("iso date", "Sent on 2024-05-01, your code will arrive shortly.", None),
    ("zip code", "Please enter your ZIP code 94043 on the form.", None),
    ("long phone number alone", "Call your PIN hotline:\n\n0800 1234 5678 90", None),
    ("iban", "Sicherheitscode folgt. IBAN DE89 3704 0044 0532 0130 00", None),
    ("order number after code word", "Your code for order 12345678 is on its way.", None),
    ("decimal", "Code version 2.4512 released", None),
    (
        "html hidden in style and comments",
        None,
        "<style>.c{color:#123456}</style><!-- code 482913 --><p>Hello</p>",
    ),
    ("coupon with a percentage", "Get 50% off with code 5OFF20 today", None),
    ("coupon with save", "Use code SAVE20 to save 20% on 3000 items", None),
    ("words between code and number", "We updated our code of conduct for 2025 events", None),
    ("code word then an unrelated number", "Use code to access 5000 items in the shop.", None),
    ("reference code", "Reference code: 48291038", None),
    ("lowercase identifier", "Your token: abc123de is invalid", None),
    ("units", "Your code expires in 10MIN", None),
    ("empty", "", ""),
    ("none", None, None),
]


@pytest.mark.parametrize(
    ("text", "html", "expected"), [p[1:] for p in POSITIVES], ids=[p[0] for p in POSITIVES]
)
def test_finds_verification_codes(text: str | None, html: str | None, expected: list[str]) -> None:
    codes = extract_codes(text, html)
    assert [c.value for c in codes] == expected
    for code in codes:
        assert 0 < len(code.context) <= MAX_CONTEXT


@pytest.mark.parametrize(
    ("text", "html"), [n[1:] for n in NEGATIVES], ids=[n[0] for n in NEGATIVES]
)
def test_refuses_numbers_that_are_not_codes(text: str | None, html: str | None) -> None:
    assert extract_codes(text, html) == []


def test_table_sizes() -> None:
    assert len(POSITIVES) >= 25
    assert len(NEGATIVES) >= 15


def test_context_is_the_phrase_around_the_code() -> None:
    (code,) = extract_codes("Hello.\nYour verification code for Acme Cloud is 771204.\n", None)
    assert code == FoundCode("771204", "Your verification code for Acme Cloud is 771204.")
    long_line = "word " * 40 + "your code is 123456 " + "more " * 40
    (code,) = extract_codes(long_line, None)
    assert "code is 123456" in code.context
    assert len(code.context) <= MAX_CONTEXT


def test_alone_code_context_is_the_keyword_line() -> None:
    (code,) = extract_codes("Enter this code to sign in:\n\n  482913  \n", None)
    assert code == FoundCode("482913", "Enter this code to sign in:")


def test_codes_are_bounded_on_huge_input() -> None:
    text = "Your code: 123456\n" + "x" * 5_000_000
    assert [c.value for c in extract_codes(text, None)] == ["123456"]
    many = "".join(f"code {100000 + i}\n" for i in range(1000))
    assert 0 < len(extract_codes(many, None)) <= 20


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400), st.text(max_size=400))
def test_codes_never_raise(text: str, html: str) -> None:
    for code in extract_codes(text, html):
        assert 4 <= len(code.value) <= 8
        assert code.value.isalnum()


def test_codes_and_links_of_an_html_only_corpus_mail() -> None:
    raw = (CORPUS / "html_only_verification.eml").read_bytes()
    summary = parse_summary(raw)
    (code,) = extract_codes(summary.text, summary.html)
    assert code.value == "604211"
    assert code.context == "Enter this verification code to finish signing in:"
    assert extract_links(summary.text, summary.html) == [
        FoundLink("https://acme.example/security?u=42&src=mail", "secure your account")
    ]


# -- links ----------------------------------------------------------------------------------


def test_links_from_html_with_anchor_text() -> None:
    html = (
        '<p><a href="https://example.com/verify?u=1&amp;t=abc&copy=2">Verify <b>email</b></a>'
        '<a href="mailto:help@example.com">Help</a><a href="javascript:alert(1)">x</a>'
        '<a href="data:text/html,hi">d</a><a href="cid:logo@x">c</a><a href="#top">top</a>'
        '<a href="/relative">rel</a><a href=" https://example.com/b\n ">'
        '<img src="cid:logo" alt="Logo"></a><a href="https://example.com/verify?u=1&amp;t=abc'
        '&copy=2">again</a><a href="HTTPS://EXAMPLE.COM/UP">up</a></p>'
    )
    assert extract_links(None, html) == [
        FoundLink("https://example.com/verify?u=1&t=abc&copy=2", "Verify email"),
        FoundLink("https://example.com/b", "Logo"),
        FoundLink("HTTPS://EXAMPLE.COM/UP", "up"),
    ]


def test_links_from_text_strip_trailing_punctuation() -> None:
    text = (
        "Open https://example.com/a. Or (see https://en.wikipedia.org/wiki/Foo_(bar)), "
        "<https://example.com/angle>, https://example.com/q?x=1&y=2; and http://x.example/p!\n"
        "Again: https://example.com/a\nmailto:me@example.com ftp://files.example.com"
    )
    assert extract_links(text, None) == [
        FoundLink("https://example.com/a", None),
        FoundLink("https://en.wikipedia.org/wiki/Foo_(bar)", None),
        FoundLink("https://example.com/angle", None),
        FoundLink("https://example.com/q?x=1&y=2", None),
        FoundLink("http://x.example/p", None),
    ]


def test_links_html_first_then_text_deduplicated() -> None:
    text = "Verify: https://example.com/v\nDocs: https://example.com/docs"
    html = '<a href="https://example.com/v">Verify now</a>'
    assert extract_links(text, html) == [
        FoundLink("https://example.com/v", "Verify now"),
        FoundLink("https://example.com/docs", None),
    ]


def test_links_in_html_text_used_when_there_is_no_text_part() -> None:
    html = "<p>Go to https://example.com/plain &amp; enjoy</p>"
    assert extract_links(None, html) == [FoundLink("https://example.com/plain", None)]


def test_links_are_bounded() -> None:
    html = "".join(f'<a href="https://example.com/{i}">{i}</a>' for i in range(1000))
    links = extract_links("https://example.com/text", html)
    assert len(links) == MAX_LINKS
    assert links[0] == FoundLink("https://example.com/0", "0")
    assert extract_links(None, "<a href='https://x.example/" + "a" * 10_000 + "'>long</a>") == []


def test_links_unclosed_anchor_and_nested_anchor() -> None:
    html = '<a href="https://a.example">first <a href="https://b.example">second'
    assert extract_links(None, html) == [
        FoundLink("https://a.example", "first"),
        FoundLink("https://b.example", "second"),
    ]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400), st.text(max_size=400))
def test_links_never_raise(text: str, html: str) -> None:
    for link in extract_links(text, html):
        assert link.url.lower().startswith(("http://", "https://"))
