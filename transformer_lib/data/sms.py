"""SMS-style messages, ham (0) or spam (1), about one spam in seven, generated from templates.

Spam offers prizes, cash, refunds and parcels, with links, phone numbers, short codes and words
disguised against filters ("fr3e", "W1N"); ham is everyday talk, and some of it uses spam's words
("are you free tonight?", "call me", "we won!", a link from a friend). Names, cities and days come
from ``faker`` (seeded). ``splits`` draws train, validation and test messages from **disjoint
templates**, and validation and test use prizes, brands and disguised spellings that training
never shows.

See: notebooks/13_fine_tuning.ipynb
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from transformer_lib.data.entities import DATES_END

__all__ = ["Message", "splits"]


@dataclass(frozen=True)
class Message:
    """One message: its text and its label (1 spam, 0 ham)."""

    text: str
    label: int


SPAM = (  # 10 training templates, then 4 validation, 4 test
    "{URGENT}! You have {won} a {prize}. {Claim} it now at {url}",
    "Congratulations {name}! Your number was picked for a {free} {prize}. Call {phone} to claim.",
    "{Free} entry to {win} {cash} cash! Text {CODE} to {short} now. 18+ T&Cs apply",
    "You are owed a tax refund of {cash}. Click {url} to receive it today.",
    "Your parcel is held at our depot. Pay the {fee} fee at {url} or it will be returned.",
    "Your mobile has {won} {cash} in our weekly draw. Call {phone} quoting code {CODE}.",
    "{name}, your account is locked. Verify your details at {url} within 24 hours.",
    "Get 50% off {brand} today only! {Free} delivery, shop now at {url}",
    "{URGENT}: your loan of {cash} is approved. Call {phone} now, lines close at 9pm.",
    "Your bank card has been frozen. Call {phone} immediately to unlock it.",
    "Last chance to {claim} your {prize}! Reply YES to {short} or visit {url}",
    "Dear customer, you have {won} a {free} {prize} from {brand}. Call {phone} now.",
    "{Cash} is waiting for you! Text {CODE} to {short} to {claim}, stop to opt out.",
    "Reminder: your {brand} payment failed. Update your card at {url} today",
    "We tried to reach you about your {prize}. {Claim} before {day} at {url}",
    "{name}, {brand} picked you for a {cash} reward. Collect it on {phone} today!",
    "Exclusive deal: {win} a {prize} with {brand}. Send {CODE} to {short}, 1.50/msg",
    "{Free} ringtones every week! Text {CODE} to {short}, 3 per msg, 16+",
)
HAM = (  # 14 training templates, then 5 validation, 5 test
    "Hey {name}, running late, be there by {time}.",
    "Can you pick up some {grocery} on the way home?",
    "Are you free on {day}? Thinking of {activity}.",
    "Call me when you get this, it's about {day}.",
    "Happy birthday {name}! Hope you have a great day x",
    "Did you see the match? We won 3-1!",
    "Here is the link to the photos from {city}: {url}",
    "My new number is {phone}, save it please.",
    "Meeting moved to {time}, same room.",
    "Thanks for dinner, it was lovely. Next one is on me.",
    "Ok, see you at the station at {time}.",
    "Just landed in {city}, will call you later x",
    "Pls text me when you're home safe",
    "Have you got the charger? Left mine at work",
    "Don't forget {name}'s party on {day}, bring {grocery}.",
    "Won the pub quiz last night, free drinks for the team!",
    "Mum says call her back, she is in {city} till {day}.",
    "Lol that's hilarious, send me the video.",
    "Dinner's in the oven, back by {time}",
    "Is {activity} still on for {day}? Let me know.",
    "I got the job!! Celebrating in {city} on {day}, you have to come",
    "Found the recipe I told you about: {url}",
    "Can we move lunch to {time}? Stuck in traffic near {city}.",
    "Good luck today {name}, you'll be great!",
)
PARTS = {"train": (10, 14), "validation": (14, 19), "test": (18, 24)}  # where each part ends
DISGUISES = {  # word -> training spellings, then held-out spellings
    "urgent": (("URGENT", "Urgent", "URG3NT"), ("URGENT!!", "UrGeNt")),
    "won": (("won", "WON", "w0n"), ("wOn", "W0N")),
    "win": (("win", "WIN", "w1n"), ("W!N", "wiin")),
    "free": (("free", "FREE", "fr3e"), ("FR££", "phree")),
    "claim": (("claim", "CLAIM", "cla1m"), ("C1aim", "clayme")),
    "cash": (("£1000", "£500", "$2,000"), ("£750", "$5,000")),
    "prize": (("iPhone 15", "holiday to Spain", "£200 voucher", "new laptop"),
              ("cruise for two", "PlayStation 5", "£350 gift card")),
    "brand": (("Tesco", "Vodafone", "Amazon"), ("Argos", "O2", "eBay")),
}
GROCERY = ("milk", "bread", "eggs", "coffee", "bananas", "wine", "cheese")
ACTIVITY = ("the cinema", "a walk", "a curry", "bowling", "the gym", "brunch", "the market")


def _fill(template: str, rng: random.Random, fake, held_out: bool) -> str:
    def pick(word: str) -> str:
        return rng.choice(DISGUISES[word][1 if held_out and rng.random() < 0.7 else 0])

    values = {word: pick(word) for word in DISGUISES}
    values |= {word.capitalize(): values[word].capitalize() if values[word].islower()
               else values[word] for word in ("free", "claim", "cash")}
    # faker's day_of_week() draws a moment up to *now*: with the clock the days, and every model
    # trained on the messages, would change from run to run. A fixed end keeps them the same.
    values |= {"URGENT": values["urgent"], "name": fake.first_name(), "city": fake.city(),
               "day": fake.date("%A", end_datetime=DATES_END),
               "time": f"{rng.randint(7, 21)}:{rng.choice('0134')}0",
               "grocery": rng.choice(GROCERY), "activity": rng.choice(ACTIVITY),
               "phone": f"0{rng.randint(7000, 7999)} {rng.randint(100000, 999999)}",
               "url": f"{rng.choice(('www.', 'http://', ''))}{fake.domain_word()}."
                      f"{rng.choice(('com', 'co.uk', 'net', 'info'))}/{rng.randint(10, 99)}",
               "short": str(rng.randint(60000, 89999)), "CODE": rng.choice(
                   ("WIN", "PRIZE", "CLAIM", "GO", "YES")) + str(rng.randint(1, 9)),
               "fee": f"£{rng.randint(1, 3)}.{rng.randint(10, 99)}"}
    return template.format(**values)


def _draw(n: int, part: str, seed: int, spam_share: float) -> list[Message]:
    from faker import Faker

    rng = random.Random(f"sms-{part}-{seed}")
    fake = Faker("en_GB")
    fake.seed_instance(f"sms-{part}-{seed}")
    names = list(PARTS)
    start = (0, 0) if part == "train" else PARTS[names[names.index(part) - 1]]
    spam, ham = SPAM[start[0]:PARTS[part][0]], HAM[start[1]:PARTS[part][1]]
    n_spam = round(n * spam_share)
    out = [Message(_fill(rng.choice(spam), rng, fake, part != "train"), 1) for _ in range(n_spam)]
    out += [Message(_fill(rng.choice(ham), rng, fake, part != "train"), 0)
            for _ in range(n - n_spam)]
    rng.shuffle(out)
    return out


def splits(n_train: int = 1500, n_valid: int = 300, n_test: int = 560, spam_share: float = 1 / 7,
           seed: int = 0) -> dict[str, list[Message]]:
    """``{"train", "validation", "test"}`` messages, ``spam_share`` of each part spam, shuffled.

    The parts use disjoint templates; validation and test draw most prizes, brands and disguised
    spellings from lists that training never shows. The same arguments give the same messages.
    """
    if not 0 < spam_share < 1:
        raise ValueError(f"spam_share={spam_share!r} must be between 0 and 1")
    sizes = {"train": n_train, "validation": n_valid, "test": n_test}
    for name, n in sizes.items():
        if not isinstance(n, int) or round(n * spam_share) < 1 or round(n * spam_share) >= n:
            raise ValueError(f"n_{name.replace('validation', 'valid')}={n!r} must be an int "
                             f"large enough to hold both ham and spam")
    return {part: _draw(n, part, seed, spam_share) for part, n in sizes.items()}
