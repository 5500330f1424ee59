"""Generate the bundled demo datasets in ``templates/demo_data/`` (deterministic, seed 0).

    python bench/tools/make_demo_data.py            # rewrite the files
    python bench/tools/make_demo_data.py --check    # exit 1 when the committed files differ from a fresh build

The rows are generated from small, exactly computed task families (arithmetic, unit conversion, word and list
manipulation, a fixed table of capitals, weekday and month arithmetic, list formatting) written with varied
phrasings, plus hand-written general questions. Every answer is correct by construction, and the patterns are
regular enough that a model of a few hundred thousand parameters visibly lowers its loss in a short run.
All text here is our own; nothing is copied from public datasets.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

SEED = 0
OUT_DIR = Path(__file__).resolve().parents[2] / "templates" / "demo_data"

Row = dict[str, str]

# ------------------------------------------------------------------------------------------------ shared facts

# (English name, Chinese name, capital, Chinese capital, continent, Chinese continent)
COUNTRIES = [
    ("France", "法国", "Paris", "巴黎", "Europe", "欧洲"),
    ("Japan", "日本", "Tokyo", "东京", "Asia", "亚洲"),
    ("Italy", "意大利", "Rome", "罗马", "Europe", "欧洲"),
    ("Spain", "西班牙", "Madrid", "马德里", "Europe", "欧洲"),
    ("Germany", "德国", "Berlin", "柏林", "Europe", "欧洲"),
    ("Canada", "加拿大", "Ottawa", "渥太华", "North America", "北美洲"),
    ("Egypt", "埃及", "Cairo", "开罗", "Africa", "非洲"),
    ("Kenya", "肯尼亚", "Nairobi", "内罗毕", "Africa", "非洲"),
    ("Brazil", "巴西", "Brasilia", "巴西利亚", "South America", "南美洲"),
    ("India", "印度", "New Delhi", "新德里", "Asia", "亚洲"),
    ("China", "中国", "Beijing", "北京", "Asia", "亚洲"),
    ("Australia", "澳大利亚", "Canberra", "堪培拉", "Oceania", "大洋洲"),
    ("the United Kingdom", "英国", "London", "伦敦", "Europe", "欧洲"),
    ("Russia", "俄罗斯", "Moscow", "莫斯科", "Europe and Asia", "欧洲和亚洲"),
    ("Mexico", "墨西哥", "Mexico City", "墨西哥城", "North America", "北美洲"),
    ("Argentina", "阿根廷", "Buenos Aires", "布宜诺斯艾利斯", "South America", "南美洲"),
    ("South Korea", "韩国", "Seoul", "首尔", "Asia", "亚洲"),
    ("Thailand", "泰国", "Bangkok", "曼谷", "Asia", "亚洲"),
    ("Norway", "挪威", "Oslo", "奥斯陆", "Europe", "欧洲"),
    ("Sweden", "瑞典", "Stockholm", "斯德哥尔摩", "Europe", "欧洲"),
    ("Greece", "希腊", "Athens", "雅典", "Europe", "欧洲"),
    ("Portugal", "葡萄牙", "Lisbon", "里斯本", "Europe", "欧洲"),
    ("Turkey", "土耳其", "Ankara", "安卡拉", "Europe and Asia", "欧洲和亚洲"),
    ("Peru", "秘鲁", "Lima", "利马", "South America", "南美洲"),
    ("Poland", "波兰", "Warsaw", "华沙", "Europe", "欧洲"),
]

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
WEEKDAYS_ZH = ["星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
MONTHS_ZH = ["一月", "二月", "三月", "四月", "五月", "六月", "七月", "八月", "九月", "十月", "十一月", "十二月"]

WORDS = ["apple", "banana", "cherry", "grape", "lemon", "mango", "orange", "peach", "river", "garden", "window",
         "pencil", "planet", "silver", "forest", "bridge", "candle", "rocket", "violin", "turtle", "marble",
         "castle", "dragon", "meadow", "harbor", "jacket", "ladder", "needle", "pepper", "saddle", "tunnel",
         "wizard", "anchor", "basket", "cactus", "falcon", "helmet", "island", "kettle", "lizard"]
WORDS_ZH = ["苹果", "香蕉", "西瓜", "葡萄", "草莓", "桃子", "梨子", "橙子", "老虎", "熊猫", "长颈鹿", "大象",
            "飞机", "火车", "自行车", "汽车", "轮船", "铅笔", "书包", "黑板", "图书馆", "电脑", "手机",
            "太阳", "月亮", "星星", "彩虹", "大海", "高山", "森林", "河流", "花园"]
ITEMS = ["apples", "bread", "milk", "eggs", "rice", "butter", "cheese", "tea", "coffee", "sugar", "salt",
         "onions", "carrots", "tomatoes", "honey", "oats", "beans", "lemons"]
ITEMS_ZH = ["牛奶", "面包", "鸡蛋", "大米", "苹果", "白菜", "土豆", "西红柿", "黄瓜", "酱油", "食盐", "白糖",
            "茶叶", "面条", "豆腐", "香蕉"]

# (unit, plural, target unit plural, factor, Chinese unit, Chinese target unit)
CONVERSIONS = [
    ("kilometer", "kilometers", "meters", 1000, "公里", "米"),
    ("meter", "meters", "centimeters", 100, "米", "厘米"),
    ("centimeter", "centimeters", "millimeters", 10, "厘米", "毫米"),
    ("hour", "hours", "minutes", 60, "小时", "分钟"),
    ("minute", "minutes", "seconds", 60, "分钟", "秒"),
    ("day", "days", "hours", 24, "天", "小时"),
    ("week", "weeks", "days", 7, "周", "天"),
    ("kilogram", "kilograms", "grams", 1000, "千克", "克"),
    ("liter", "liters", "milliliters", 1000, "升", "毫升"),
    ("year", "years", "months", 12, "年", "个月"),
]

_ZH_DIGITS = "零一二三四五六七八九"


def zh_number(n: int) -> str:
    """Chinese numerals for 0..9999 (e.g. 105 -> 一百零五, 110 -> 一百一十, 15 -> 十五)."""
    if not 0 <= n < 10000:
        raise ValueError(n)
    if n < 10:
        return _ZH_DIGITS[n]
    if n < 20:
        return "十" + (_ZH_DIGITS[n % 10] if n % 10 else "")
    parts: list[str] = []
    zero_pending = False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = (n // value) % 10
        if digit:
            if zero_pending and parts:
                parts.append("零")
            parts.append(_ZH_DIGITS[digit] + unit)
            zero_pending = False
        elif parts:
            zero_pending = True
    return "".join(parts)


def zh_count_word(n: int) -> str:
    """A count before a measure word: 2 is 两 (两个字), other numbers as :func:`zh_number`."""
    return "两" if n == 2 else zh_number(n)


def plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


# ------------------------------------------------------------------------------------------------ English alpaca

def en_arithmetic(rng: random.Random) -> Row:
    op = rng.choice("+-*")
    if op == "*":
        a, b = rng.randint(2, 12), rng.randint(2, 12)
        result, word, sym = a * b, "times", "×"
    else:
        a, b = rng.randint(10, 99), rng.randint(1, 99)
        if op == "-" and b > a:
            a, b = b, a
        result = a + b if op == "+" else a - b
        word, sym = ("plus", "+") if op == "+" else ("minus", "-")
    style = rng.randrange(5)
    if style == 0:
        return {"instruction": f"What is {a} {word} {b}?", "input": "", "output": str(result)}
    if style == 1:
        return {"instruction": "Solve the arithmetic problem.", "input": f"{a} {sym} {b}",
                "output": f"{a} {sym} {b} = {result}"}
    if style == 2:
        return {"instruction": "Calculate the result and answer with a single number.",
                "input": f"{a} {word} {b}", "output": str(result)}
    if style == 3 and op == "+":
        tens, ones = (a // 10 + b // 10) * 10, a % 10 + b % 10
        return {"instruction": f"Add {a} and {b}. Show your work.", "input": "",
                "output": f"First add the tens: {a // 10 * 10} + {b // 10 * 10} = {tens}. "
                          f"Then add the ones: {a % 10} + {b % 10} = {ones}. "
                          f"Finally {tens} + {ones} = {result}, so {a} + {b} = {result}."}
    return {"instruction": f"If you have {a} and you compute {a} {word} {b}, what do you get?", "input": "",
            "output": f"{a} {word} {b} is {result}."}


def en_conversion(rng: random.Random) -> Row:
    one, many, target, factor, _, _ = rng.choice(CONVERSIONS)
    n = rng.randint(1, 12)
    style = rng.randrange(3)
    if style == 0:
        return {"instruction": f"How many {target} are in {plural(n, one, many)}?", "input": "",
                "output": f"There are {n * factor} {target} in {plural(n, one, many)}."}
    if style == 1:
        return {"instruction": f"Convert the value to {target}.", "input": plural(n, one, many),
                "output": f"{plural(n, one, many)} = {n * factor} {target}"}
    return {"instruction": f"Convert {plural(n, one, many)} to {target} and explain.", "input": "",
            "output": f"One {one} is {factor} {target}. So {plural(n, one, many)} is {n} × {factor} = "
                      f"{n * factor} {target}."}


def en_reverse(rng: random.Random) -> Row:
    word = rng.choice(WORDS)
    if rng.random() < 0.5:
        return {"instruction": "Reverse the letters of the word.", "input": word, "output": word[::-1]}
    return {"instruction": f"Spell the word \"{word}\" backwards.", "input": "", "output": word[::-1]}


def en_sort(rng: random.Random) -> Row:
    words = rng.sample(WORDS, rng.randint(3, 7))
    style = rng.randrange(3)
    if style == 0:
        return {"instruction": "Sort these words in alphabetical order.", "input": ", ".join(words),
                "output": ", ".join(sorted(words))}
    if style == 1:
        return {"instruction": "Put the words in reverse alphabetical order.", "input": " ".join(words),
                "output": " ".join(sorted(words, reverse=True))}
    nums = rng.sample(range(1, 100), len(words))
    return {"instruction": "Sort the numbers from smallest to largest.", "input": ", ".join(map(str, nums)),
            "output": ", ".join(map(str, sorted(nums)))}


def en_count(rng: random.Random) -> Row:
    word = rng.choice(WORDS)
    style = rng.randrange(3)
    if style == 0:
        return {"instruction": f"How many letters are in the word \"{word}\"?", "input": "",
                "output": f"The word \"{word}\" has {len(word)} letters."}
    if style == 1:
        letter = rng.choice(sorted(set(word)))
        count = word.count(letter)
        return {"instruction": f"How many times does the letter \"{letter}\" appear in the word?",
                "input": word, "output": f"The letter \"{letter}\" appears {count} time{'s' if count > 1 else ''} "
                                         f"in \"{word}\"."}
    words = rng.sample(WORDS, rng.randint(2, 8))
    return {"instruction": "Count the words in the text.", "input": " ".join(words), "output": str(len(words))}


def en_capital(rng: random.Random) -> Row:
    country, _, capital, _, continent, _ = rng.choice(COUNTRIES)
    style = rng.randrange(4)
    name = country[0].upper() + country[1:]
    if style == 0:
        return {"instruction": f"What is the capital of {country}?", "input": "", "output": capital}
    if style == 1:
        return {"instruction": "Name the capital city of the country.", "input": name,
                "output": f"The capital of {country} is {capital}."}
    if style == 2:
        return {"instruction": f"Tell me about the capital of {country} in one or two sentences.", "input": "",
                "output": f"The capital of {country} is {capital}. {name} is a country in {continent}."}
    return {"instruction": f"{capital} is the capital of which country?", "input": "",
            "output": f"{capital} is the capital of {country}."}


def en_dates(rng: random.Random) -> Row:
    if rng.random() < 0.6:
        start, k = rng.randrange(7), rng.randint(1, 10)
        end = WEEKDAYS[(start + k) % 7]
        if rng.random() < 0.5:
            return {"instruction": f"What day of the week is {plural(k, 'day', 'days')} after {WEEKDAYS[start]}?",
                    "input": "", "output": end}
        return {"instruction": "Today is the given day. Which day of the week will it be after the given "
                               "number of days?", "input": f"{WEEKDAYS[start]}, {k}",
                "output": f"{plural(k, 'day', 'days')} after {WEEKDAYS[start]} it will be {end}."}
    start, k = rng.randrange(12), rng.randint(1, 11)
    end = MONTHS[(start + k) % 12]
    return {"instruction": f"Which month comes {plural(k, 'month', 'months')} after {MONTHS[start]}?", "input": "",
            "output": f"{plural(k, 'month', 'months')} after {MONTHS[start]} comes {end}."}


def en_format(rng: random.Random) -> Row:
    items = rng.sample(ITEMS, rng.randint(2, 6))
    style = rng.randrange(4)
    if style == 0:
        return {"instruction": "Format the items as a bulleted list.", "input": ", ".join(items),
                "output": "\n".join(f"- {x}" for x in items)}
    if style == 1:
        return {"instruction": "Turn the shopping list into a numbered list.", "input": ", ".join(items),
                "output": "\n".join(f"{i}. {x}" for i, x in enumerate(items, 1))}
    if style == 2:
        return {"instruction": "Write the words in upper case.", "input": " ".join(items),
                "output": " ".join(items).upper()}
    return {"instruction": "Join the items into one sentence.", "input": "\n".join(items),
            "output": "We need " + (", ".join(items[:-1]) + " and " + items[-1]) + "."}


def en_numbers(rng: random.Random) -> Row:
    a, b = rng.sample(range(1, 500), 2)
    style = rng.randrange(3)
    if style == 0:
        return {"instruction": "Which number is larger?", "input": f"{a} or {b}", "output": str(max(a, b))}
    if style == 1:
        return {"instruction": f"Is {a} even or odd?", "input": "",
                "output": f"{a} is {'even' if a % 2 == 0 else 'odd'}."}
    return {"instruction": "Double the number.", "input": str(a), "output": str(2 * a)}


EN_GENERATORS: list[Callable[[random.Random], Row]] = [
    en_arithmetic, en_arithmetic, en_conversion, en_reverse, en_sort, en_count, en_capital, en_dates, en_format,
    en_numbers,
]

EN_HANDWRITTEN: list[Row] = [
    {"instruction": "What is fine-tuning?", "input": "",
     "output": "Fine-tuning is training a pretrained model a little further on examples of one task, so that it "
               "gets better at that task while keeping most of what it learned before."},
    {"instruction": "Explain what a tokenizer does.", "input": "",
     "output": "A tokenizer splits text into small pieces called tokens and maps each one to a number. The model "
               "reads and writes these numbers, and the tokenizer turns them back into text."},
    {"instruction": "Give three tips for staying healthy.", "input": "",
     "output": "1. Eat plenty of vegetables and fruit.\n2. Move your body every day, even if it is only a walk.\n"
               "3. Sleep seven to nine hours a night."},
    {"instruction": "What does LoRA stand for?", "input": "", "output": "Low-Rank Adaptation."},
    {"instruction": "Why is the sky blue?", "input": "",
     "output": "Sunlight is scattered by the molecules of the air, and blue light is scattered much more than red "
               "light. That scattered blue light reaches our eyes from every direction, so the sky looks blue."},
    {"instruction": "Summarize the text in one sentence.",
     "input": "The team trained the model for three epochs. The loss fell quickly in the first epoch and slowly "
              "afterwards. The final model answered most test questions correctly.",
     "output": "After three epochs of training the model's loss had fallen and it answered most test questions "
               "correctly."},
    {"instruction": "Write a short greeting for a new colleague.", "input": "",
     "output": "Welcome to the team! We are glad to have you here, and we are happy to help while you settle in."},
    {"instruction": "How many days are in a leap year?", "input": "", "output": "366"},
    {"instruction": "What is the boiling point of water at sea level?", "input": "",
     "output": "Water boils at 100 degrees Celsius (212 degrees Fahrenheit) at sea level."},
    {"instruction": "Name the three primary colors of light.", "input": "", "output": "Red, green and blue."},
    {"instruction": "Classify the animal as a mammal, bird or fish.", "input": "dolphin", "output": "mammal"},
    {"instruction": "Classify the animal as a mammal, bird or fish.", "input": "eagle", "output": "bird"},
    {"instruction": "Classify the animal as a mammal, bird or fish.", "input": "salmon", "output": "fish"},
    {"instruction": "What is the opposite of the word?", "input": "hot", "output": "cold"},
    {"instruction": "What is the opposite of the word?", "input": "early", "output": "late"},
    {"instruction": "Rewrite the sentence in the past tense.", "input": "She walks to school.",
     "output": "She walked to school."},
    {"instruction": "Rewrite the sentence in the past tense.", "input": "They play football on Sunday.",
     "output": "They played football on Sunday."},
    {"instruction": "Correct the spelling mistakes.", "input": "I recieved the pakage yesterday.",
     "output": "I received the package yesterday."},
    {"instruction": "What is gradient accumulation?", "input": "",
     "output": "Gradient accumulation adds up the gradients of several small batches before the optimizer takes "
               "a step. It trains as if the batch were larger without needing the memory for it."},
    {"instruction": "Why do we use a validation set?", "input": "",
     "output": "A validation set holds examples the model does not train on. Its loss shows whether the model "
               "generalizes or only memorizes the training data."},
    {"instruction": "Describe a cat in one sentence.", "input": "",
     "output": "A cat is a small, furry animal with sharp claws, soft paws and a long tail that likes to sleep in "
               "warm places."},
    {"instruction": "Suggest a name for a bakery.", "input": "", "output": "The Golden Crust."},
    {"instruction": "What is the largest planet in the solar system?", "input": "", "output": "Jupiter."},
    {"instruction": "How many continents are there?", "input": "",
     "output": "There are seven continents: Africa, Antarctica, Asia, Australia, Europe, North America and "
               "South America."},
    {"instruction": "Write a haiku about rain.", "input": "",
     "output": "Soft rain on the roof\nthe garden drinks in silence\nmorning smells of earth"},
    {"instruction": "Translate the sentence into French.", "input": "Good morning.", "output": "Bonjour."},
    {"instruction": "What should I do if my training run runs out of GPU memory?", "input": "",
     "output": "Lower the per-device batch size and raise gradient accumulation to keep the effective batch, "
               "shorten the cutoff length, turn on gradient checkpointing, or load the model in 4-bit."},
    {"instruction": "Explain the difference between weather and climate.", "input": "",
     "output": "Weather is what the air is doing today: rain, sun, wind. Climate is the average weather of a "
               "place over many years."},
    {"instruction": "List the planets in order from the Sun.", "input": "",
     "output": "Mercury, Venus, Earth, Mars, Jupiter, Saturn, Uranus, Neptune."},
    {"instruction": "Who are you?", "input": "",
     "output": "I am a small demo assistant trained with ft-tui. I answer simple questions and tasks."},
]


# ------------------------------------------------------------------------------------------------ Chinese alpaca

def zh_arithmetic(rng: random.Random) -> Row:
    op = rng.choice("+-*")
    if op == "*":
        a, b = rng.randint(2, 12), rng.randint(2, 12)
        result, word, sym = a * b, "乘以", "×"
    else:
        a, b = rng.randint(10, 99), rng.randint(1, 99)
        if op == "-" and b > a:
            a, b = b, a
        result = a + b if op == "+" else a - b
        word, sym = ("加", "+") if op == "+" else ("减", "-")
    style = rng.randrange(4)
    if style == 0:
        return {"instruction": f"{a}{word}{b}等于多少？", "input": "", "output": str(result)}
    if style == 1:
        return {"instruction": "计算下面的算式。", "input": f"{a} {sym} {b}", "output": f"{a} {sym} {b} = {result}"}
    if style == 2:
        return {"instruction": f"{zh_number(a)}{word}{zh_number(b)}等于几？请用汉字回答。", "input": "",
                "output": f"{zh_number(a)}{word}{zh_number(b)}等于{zh_number(result)}。"}
    return {"instruction": f"请计算{a}{word}{b}，并写出结果。", "input": "",
            "output": f"{a}{word}{b}的结果是{result}。"}


def zh_conversion(rng: random.Random) -> Row:
    _, _, _, factor, unit, target = rng.choice(CONVERSIONS)
    n = rng.randint(1, 12)
    style = rng.randrange(3)
    if style == 0:
        return {"instruction": f"{n}{unit}等于多少{target}？", "input": "",
                "output": f"{n}{unit}等于{n * factor}{target}。"}
    if style == 1:
        return {"instruction": f"把下面的数量换算成{target}。", "input": f"{n}{unit}",
                "output": f"{n}{unit} = {n * factor}{target}"}
    return {"instruction": f"请把{n}{unit}换算成{target}，并说明理由。", "input": "",
            "output": f"1{unit}等于{factor}{target}，所以{n}{unit}等于{n} × {factor} = {n * factor}{target}。"}


def zh_sort(rng: random.Random) -> Row:
    style = rng.randrange(3)
    if style == 0:
        nums = rng.sample(range(1, 100), rng.randint(3, 7))
        return {"instruction": "把这些数字从小到大排列。", "input": "、".join(map(str, nums)),
                "output": "、".join(map(str, sorted(nums)))}
    if style == 1:
        nums = rng.sample(range(1, 100), rng.randint(3, 7))
        return {"instruction": "把这些数字从大到小排列。", "input": "、".join(map(str, nums)),
                "output": "、".join(map(str, sorted(nums, reverse=True)))}
    words = rng.sample(WORDS_ZH, rng.randint(3, 6))
    return {"instruction": "把下面的词语按原来的顺序倒过来排列。", "input": "、".join(words),
            "output": "、".join(reversed(words))}


def zh_count(rng: random.Random) -> Row:
    words = rng.sample(WORDS_ZH, rng.randint(2, 8))
    if rng.random() < 0.5:
        return {"instruction": "下面一共有几个词语？", "input": "、".join(words),
                "output": f"一共有{zh_count_word(len(words))}个词语。"}
    word = rng.choice(WORDS_ZH)
    return {"instruction": f"“{word}”这个词有几个字？", "input": "", "output": f"“{word}”有{zh_count_word(len(word))}个字。"}


def zh_capital(rng: random.Random) -> Row:
    _, country, _, capital, _, continent = rng.choice(COUNTRIES)
    style = rng.randrange(4)
    if style == 0:
        return {"instruction": f"{country}的首都是哪里？", "input": "", "output": capital}
    if style == 1:
        return {"instruction": "说出这个国家的首都。", "input": country, "output": f"{country}的首都是{capital}。"}
    if style == 2:
        return {"instruction": f"用一两句话介绍{country}的首都。", "input": "",
                "output": f"{country}的首都是{capital}。{country}是位于{continent}的国家。"}
    return {"instruction": f"{capital}是哪个国家的首都？", "input": "", "output": f"{capital}是{country}的首都。"}


def zh_dates(rng: random.Random) -> Row:
    if rng.random() < 0.6:
        start, k = rng.randrange(7), rng.randint(1, 10)
        end = WEEKDAYS_ZH[(start + k) % 7]
        if rng.random() < 0.5:
            return {"instruction": f"今天是{WEEKDAYS_ZH[start]}，{zh_number(k)}天后是星期几？", "input": "",
                    "output": end}
        return {"instruction": "根据给出的日子和天数，推算那天是星期几。", "input": f"{WEEKDAYS_ZH[start]}，{k}天后",
                "output": f"{WEEKDAYS_ZH[start]}过{k}天是{end}。"}
    start, k = rng.randrange(12), rng.randint(1, 11)
    return {"instruction": f"{MONTHS_ZH[start]}之后第{zh_number(k)}个月是几月？", "input": "",
            "output": f"{MONTHS_ZH[start]}之后第{zh_number(k)}个月是{MONTHS_ZH[(start + k) % 12]}。"}


def zh_format(rng: random.Random) -> Row:
    items = rng.sample(ITEMS_ZH, rng.randint(2, 6))
    style = rng.randrange(3)
    if style == 0:
        return {"instruction": "把下面的物品写成项目符号列表。", "input": "、".join(items),
                "output": "\n".join(f"- {x}" for x in items)}
    if style == 1:
        return {"instruction": "把购物清单改写成编号列表。", "input": "、".join(items),
                "output": "\n".join(f"{i}. {x}" for i, x in enumerate(items, 1))}
    return {"instruction": "把这些物品连成一句话。", "input": "\n".join(items),
            "output": "我们需要买" + "、".join(items[:-1]) + "和" + items[-1] + "。"}


def zh_numbers(rng: random.Random) -> Row:
    a, b = rng.sample(range(1, 500), 2)
    style = rng.randrange(3)
    if style == 0:
        return {"instruction": "哪个数更大？", "input": f"{a}和{b}", "output": str(max(a, b))}
    if style == 1:
        return {"instruction": f"{a}是奇数还是偶数？", "input": "",
                "output": f"{a}是{'偶数' if a % 2 == 0 else '奇数'}。"}
    return {"instruction": "写出这个数的两倍。", "input": str(a), "output": str(2 * a)}


ZH_GENERATORS: list[Callable[[random.Random], Row]] = [
    zh_arithmetic, zh_arithmetic, zh_conversion, zh_sort, zh_count, zh_capital, zh_dates, zh_format, zh_numbers,
]

ZH_HANDWRITTEN: list[Row] = [
    {"instruction": "什么是微调？", "input": "",
     "output": "微调是在预训练模型的基础上，用某个任务的数据继续训练一小段时间，让模型更擅长这个任务，同时保留原有的知识。"},
    {"instruction": "分词器的作用是什么？", "input": "",
     "output": "分词器把文本切成叫做词元的小片段，并把每个词元对应成一个数字。模型读写的是这些数字，分词器再把它们变回文字。"},
    {"instruction": "给出三条保持健康的建议。", "input": "",
     "output": "1. 多吃蔬菜和水果。\n2. 每天活动身体，哪怕只是散步。\n3. 每晚睡七到九个小时。"},
    {"instruction": "一年有几个季节？", "input": "", "output": "一年有四个季节：春、夏、秋、冬。"},
    {"instruction": "为什么天空是蓝色的？", "input": "",
     "output": "阳光穿过大气时会被空气分子散射，蓝光比红光散射得多得多。散射的蓝光从四面八方进入我们的眼睛，所以天空看起来是蓝色的。"},
    {"instruction": "用一句话总结下面这段话。",
     "input": "团队把模型训练了三个轮次。第一个轮次损失下降很快，之后下降变慢。最终模型答对了大部分测试题。",
     "output": "经过三个轮次的训练，模型的损失下降了，并答对了大部分测试题。"},
    {"instruction": "写一句欢迎新同事的话。", "input": "", "output": "欢迎加入我们的团队！有任何问题随时来问，我们很乐意帮忙。"},
    {"instruction": "闰年有多少天？", "input": "", "output": "366天"},
    {"instruction": "水在海平面上多少度沸腾？", "input": "", "output": "水在海平面上一百摄氏度沸腾。"},
    {"instruction": "彩虹有哪些颜色？", "input": "", "output": "红、橙、黄、绿、青、蓝、紫。"},
    {"instruction": "判断这种动物是哺乳动物、鸟类还是鱼类。", "input": "海豚", "output": "哺乳动物"},
    {"instruction": "判断这种动物是哺乳动物、鸟类还是鱼类。", "input": "老鹰", "output": "鸟类"},
    {"instruction": "判断这种动物是哺乳动物、鸟类还是鱼类。", "input": "鲤鱼", "output": "鱼类"},
    {"instruction": "写出这个词的反义词。", "input": "高", "output": "低"},
    {"instruction": "写出这个词的反义词。", "input": "快乐", "output": "悲伤"},
    {"instruction": "把这句话翻译成英文。", "input": "今天天气很好。", "output": "The weather is nice today."},
    {"instruction": "把这句话翻译成中文。", "input": "Good morning.", "output": "早上好。"},
    {"instruction": "改正句子中的错别字。", "input": "我门明天一起去公园完。", "output": "我们明天一起去公园玩。"},
    {"instruction": "什么是梯度累积？", "input": "",
     "output": "梯度累积是先把几个小批次的梯度加起来，再让优化器更新一次参数。这样可以用较少的显存达到较大批次的效果。"},
    {"instruction": "为什么需要验证集？", "input": "",
     "output": "验证集里的样本不参与训练。看验证集上的损失，可以知道模型是真的学会了，还是只记住了训练数据。"},
    {"instruction": "用一句话描述熊猫。", "input": "", "output": "熊猫是一种黑白相间、爱吃竹子的熊，主要生活在中国的山区。"},
    {"instruction": "给一家面包店起个名字。", "input": "", "output": "金麦香面包坊"},
    {"instruction": "太阳系中最大的行星是哪一颗？", "input": "", "output": "木星。"},
    {"instruction": "世界上有几个大洲？", "input": "", "output": "七个：亚洲、非洲、北美洲、南美洲、南极洲、欧洲和大洋洲。"},
    {"instruction": "写一首关于春天的短诗。", "input": "", "output": "春风吹绿柳，\n细雨润新花。\n燕子归来早，\n衔泥筑旧家。"},
    {"instruction": "训练时显存不够怎么办？", "input": "",
     "output": "可以减小每张卡的批大小并增加梯度累积步数，缩短截断长度，打开梯度检查点，或者用四比特量化加载模型。"},
    {"instruction": "天气和气候有什么区别？", "input": "", "output": "天气是某一天的冷热晴雨，气候是一个地方多年天气的平均状况。"},
    {"instruction": "按离太阳由近到远的顺序列出八大行星。", "input": "",
     "output": "水星、金星、地球、火星、木星、土星、天王星、海王星。"},
    {"instruction": "你是谁？", "input": "", "output": "我是用 ft-tui 训练的小型演示助手，可以回答简单的问题。"},
    {"instruction": "中国有多少个省级行政区？", "input": "",
     "output": "中国有三十四个省级行政区，包括二十三个省、五个自治区、四个直辖市和两个特别行政区。"},
]


def make_alpaca(generators: list[Callable[[random.Random], Row]], handwritten: list[Row], count: int,
                rng: random.Random) -> list[Row]:
    """``count`` distinct generated rows (round robin over the families) plus the hand-written ones, shuffled."""
    rows: list[Row] = []
    seen: set[tuple[str, str]] = set()
    attempts = 0
    while len(rows) < count:
        attempts += 1
        if attempts > count * 50:
            raise RuntimeError("the generators cannot produce enough distinct rows")
        row = generators[attempts % len(generators)](rng)
        key = (row["instruction"], row["input"])
        if key not in seen:
            seen.add(key)
            rows.append(row)
    rows.extend(handwritten)
    rng.shuffle(rows)
    return rows


# ------------------------------------------------------------------------------------------------ conversations

HELPFUL = "You are a helpful assistant."


def conv_math(rng: random.Random) -> list[tuple[str, str]]:
    a, b = rng.randint(10, 60), rng.randint(10, 60)
    total = a + b
    turns = [(f"What is {a} plus {b}?", f"{a} + {b} = {total}.")]
    k = rng.randint(2, 5)
    turns.append((f"Now multiply that by {k}.", f"{total} × {k} = {total * k}."))
    if rng.random() < 0.6:
        d = rng.randint(1, 50)
        turns.append((f"And subtract {d} from the result?", f"{total * k} - {d} = {total * k - d}."))
    if rng.random() < 0.4:
        value = turns[-1][1].split("= ")[1].rstrip(".")
        turns.append(("Is that number even or odd?", f"{value} is {'even' if int(value) % 2 == 0 else 'odd'}."))
    return turns


def conv_capitals(rng: random.Random) -> list[tuple[str, str]]:
    picks = rng.sample(COUNTRIES, rng.randint(2, 4))
    first = picks[0]
    turns = [(f"What is the capital of {first[0]}?", f"The capital of {first[0]} is {first[2]}.")]
    asked_capital = True
    for country in picks[1:]:
        if rng.random() < 0.5:
            ask = f"And of {country[0]}?" if asked_capital else f"What is the capital of {country[0]}?"
            turns.append((ask, f"The capital of {country[0]} is {country[2]}."))
            asked_capital = True
        else:
            turns.append((f"Which continent is {country[0]} in?", f"{country[0][0].upper() + country[0][1:]} "
                                                                   f"is in {country[4]}."))
            asked_capital = False
    return turns


def conv_words(rng: random.Random) -> list[tuple[str, str]]:
    words = rng.sample(WORDS, rng.randint(3, 6))
    ordered = sorted(words)
    turns = [(f"Sort these words alphabetically: {', '.join(words)}", ", ".join(ordered)),
             ("Now reverse that order.", ", ".join(reversed(ordered)))]
    if rng.random() < 0.7:
        turns.append(("How many words are in the list?", f"There are {len(words)} words."))
    if rng.random() < 0.4:
        turns.append(("Spell the first one backwards.", ordered[-1][::-1]))
    return turns


def conv_units(rng: random.Random) -> list[tuple[str, str]]:
    picks = rng.sample(CONVERSIONS, rng.randint(2, 3))
    turns = []
    for i, (_one, many, target, factor, _, _) in enumerate(picks):
        n = rng.randint(2, 9)
        ask = f"How many {target} are in {n} {many}?" if i == 0 else f"What about {n} {many} in {target}?"
        turns.append((ask, f"{n} {many} is {n * factor} {target}."))
    return turns


def conv_zh(rng: random.Random) -> list[tuple[str, str]]:
    if rng.random() < 0.5:
        a, b = rng.randint(10, 60), rng.randint(10, 60)
        k = rng.randint(2, 5)
        return [(f"{a}加{b}等于多少？", f"{a} + {b} = {a + b}。"),
                (f"再乘以{k}呢？", f"{a + b} × {k} = {(a + b) * k}。")]
    picks = rng.sample(COUNTRIES, rng.randint(2, 3))
    return [(f"{c[1]}的首都是哪里？" if i == 0 else f"那{c[1]}呢？", f"{c[1]}的首都是{c[3]}。")
            for i, c in enumerate(picks)]


def make_sharegpt(count: int, rng: random.Random) -> list[dict]:
    """``count`` multi-turn conversations (2-4 user turns), about a third with a system prompt."""
    makers = [conv_math, conv_capitals, conv_words, conv_units, conv_zh]
    # Each family's system prompts fit its conversations.
    systems = {
        conv_math: [HELPFUL, "You are a concise math tutor. Show the calculation in one line."],
        conv_capitals: [HELPFUL, "You are a geography assistant. Answer in full sentences."],
        conv_words: [HELPFUL, "You are a careful assistant for word puzzles."],
        conv_units: [HELPFUL, "You convert units exactly and answer in one sentence."],
        conv_zh: ["你是一个乐于助人的助手。", "你是一个简洁的助手，回答只用一句话。"],
    }
    rows = []
    for i in range(count):
        maker = makers[i % len(makers)]
        turns = maker(rng)
        row: dict = {"conversations": [m for q, a in turns
                                       for m in ({"from": "human", "value": q}, {"from": "gpt", "value": a})]}
        if rng.random() < 0.35:
            row["system"] = rng.choice(systems[maker])
        rows.append(row)
    rng.shuffle(rows)
    return rows


# ------------------------------------------------------------------------------------------------ pretraining

def pretrain_sentence(rng: random.Random, chinese: bool) -> str:
    kind = rng.randrange(4) + (4 if chinese else 0)
    if kind == 0:
        c = rng.choice(COUNTRIES)
        return f"The capital of {c[0]} is {c[2]}, and {c[0]} is in {c[4]}."
    if kind == 1:
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        return f"{a} plus {b} equals {a + b}."
    if kind == 2:
        one, many, target, factor, _, _ = rng.choice(CONVERSIONS)
        n = rng.randint(2, 12)
        return f"{n} {many} make {n * factor} {target}, because one {one} is {factor} {target}."
    if kind == 3:
        s, k = rng.randrange(7), rng.randint(1, 6)
        return f"{plural(k, 'day', 'days')} after {WEEKDAYS[s]} comes {WEEKDAYS[(s + k) % 7]}."
    if kind == 4:
        c = rng.choice(COUNTRIES)
        return f"{c[1]}的首都是{c[3]}，{c[1]}位于{c[5]}。"
    if kind == 5:
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        return f"{a}加{b}等于{a + b}。"
    if kind == 6:
        _, _, _, factor, unit, target = rng.choice(CONVERSIONS)
        n = rng.randint(2, 12)
        return f"{n}{unit}等于{n * factor}{target}。"
    s, k = rng.randrange(7), rng.randint(1, 6)
    return f"{WEEKDAYS_ZH[s]}过{k}天是{WEEKDAYS_ZH[(s + k) % 7]}。"


def make_pretrain(count: int, rng: random.Random) -> list[dict]:
    """``count`` short paragraphs of 2-6 true sentences each; about a third in Chinese."""
    rows = []
    for _ in range(count):
        chinese = rng.random() < 0.35
        sentences = [pretrain_sentence(rng, chinese) for _ in range(rng.randint(2, 6))]
        rows.append({"text": ("" if chinese else " ").join(sentences)})
    return rows


# ------------------------------------------------------------------------------------------------ registry/files

DATASET_INFO = {
    "demo_alpaca_en": {"file_name": "demo_alpaca_en.json", "formatting": "alpaca",
                       "columns": {"prompt": "instruction", "query": "input", "response": "output"}},
    "demo_alpaca_zh": {"file_name": "demo_alpaca_zh.json", "formatting": "alpaca",
                       "columns": {"prompt": "instruction", "query": "input", "response": "output"}},
    "demo_sharegpt": {"file_name": "demo_sharegpt.json", "formatting": "sharegpt",
                      "columns": {"messages": "conversations", "system": "system"},
                      "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                               "assistant_tag": "gpt", "system_tag": "system"}},
    "demo_pretrain": {"file_name": "demo_pretrain.jsonl", "columns": {"prompt": "text"}},
}


def render_all(seed: int = SEED) -> dict[str, str]:
    """File name -> exact file content for every demo data file."""
    def dump(obj: object) -> str:
        return json.dumps(obj, ensure_ascii=False, indent=2) + "\n"

    return {
        "demo_alpaca_en.json": dump(make_alpaca(EN_GENERATORS, EN_HANDWRITTEN, 370, random.Random(seed))),
        "demo_alpaca_zh.json": dump(make_alpaca(ZH_GENERATORS, ZH_HANDWRITTEN, 330, random.Random(seed + 1))),
        "demo_sharegpt.json": dump(make_sharegpt(80, random.Random(seed + 2))),
        "demo_pretrain.jsonl": "".join(json.dumps(r, ensure_ascii=False) + "\n"
                                       for r in make_pretrain(240, random.Random(seed + 3))),
        "dataset_info.json": dump(DATASET_INFO),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the files on disk, write nothing")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default: templates/demo_data)")
    args = parser.parse_args(argv)
    files = render_all()
    if args.check:
        stale = [name for name, text in files.items()
                 if not (args.out / name).is_file() or (args.out / name).read_text(encoding="utf-8") != text]
        for name in stale:
            print(f"{args.out / name} differs from a fresh build; run {Path(__file__).name}", file=sys.stderr)
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.out / name).write_text(text, encoding="utf-8")
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
