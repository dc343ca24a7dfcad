"""Small per-language word lists the lexical checkers need (English, Malay/Indonesian,
Tagalog, Thai, Chinese, plus German negation).

Latin-script entries are written case- and accent-folded, as `language.fold` leaves
text; Thai and Chinese entries are matched as substrings (those scripts have no
spaces between words). The lists are deliberately short and aimed at support and
policy answers: they catch the common swaps (units, negation, approval/rejection),
not every paraphrase; that is what an LLM judge is for.
"""

from __future__ import annotations

# English alone: the consistency check compares English claims.
ENGLISH_STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for from
further had has have having he her here hers herself him himself his how i if in into is it
its itself just let me more most my myself of off on once only or other our ours ourselves
out over own same she should so some such than that the their theirs them themselves then
there these they this those through to too under until up very was we were what when where
which while who whom why will with would you your yours yourself yourselves may might must
shall via per yes ok okay please thanks thank hello hi dear sure
""".split())
ENGLISH_NEGATIONS = frozenset({"no", "not", "never", "none", "nor", "cannot", "without"})

# Words that carry no claim. Latin-script languages share one set: a word that is a
# stopword in one of them is rarely a content word in another.
STOPWORDS = ENGLISH_STOPWORDS | frozenset("""
get got
yang dan di ke dari untuk pada dengan ini itu adalah ialah akan telah sudah boleh dapat
bisa kami kita anda awak saya mereka ia dia juga atau oleh dalam sebagai jika kalau
maka agar supaya untuk bagi hanya setiap para pun lah kah nya terima kasih sila silakan
mohon tolong harap encik puan bapak ibu
ang ng sa mga ay na at si ni kay ito iyan iyon ka ikaw kayo tayo kami namin natin ninyo
po opo lang din rin ba naman kung para pag may mayroon nang nga pa ko mo niya nila siya
kanilang inyong ating aming inyo salamat
""".split())

# Negation words (folded, Latin script): an added or dropped one flips a claim.
# Tagalog "di" is left out: it is the everyday Malay/Indonesian "at/in".
NEGATIONS = frozenset("""
no not never none nor cannot without nothing neither nobody
tidak tak bukan belum jangan tiada tanpa enggak nggak gak takde
hindi wala walang huwag hinding
nicht kein keine keinen keinem keiner keines nie niemals ohne
""".split())

# Negation markers found as substrings in Thai and Chinese text.
NEGATION_MARKS = ("ไม่", "ห้าม", "ปราศจาก", "不", "没", "沒", "无", "無", "未", "别", "勿", "非")
# Chinese words that contain a marker but do not negate ("different", "but", "very",
# "future", "special"...): removed before the markers are counted.
NOT_NEGATIONS = ("不同", "不过", "不仅", "不久", "不断", "不错", "非常", "未来", "特别",
                 "区别", "别人", "无论", "除非", "是非")

# Units a number can carry, each spelling -> one canonical unit. Latin spellings are
# single folded words (plural folds to singular before lookup).
UNITS: dict[str, str] = {}
for _canon, _spellings in {
    "day": "day hari araw arw วัน 天 日 工作日 个工作日 個工作日",
    "week": "week minggu pekan linggo สัปดาห์ อาทิตย์ 周 週 星期 个星期 個星期 礼拜 個禮拜",
    "month": "month bulan buwan เดือน 个月 個月",
    "year": "year tahun taon ปี 年",
    "hour": "hour jam oras ชั่วโมง 小时 小時 个小时",
    "minute": "minute min minit menit minuto นาที 分钟 分鐘",
    "percent": "% percent peratus persen porsyento เปอร์เซ็นต์",
    "usd": "$ usd dollar dolar",
    "myr": "rm ringgit myr",
    "idr": "rp rupiah idr",
    "php": "₱ php peso piso",
    "thb": "฿ baht บาท thb",
    "cny": "¥ ￥ 元 块 塊 rmb cny yuan",
    "item": "item barang piraso ชิ้น 件",
    "kg": "kg kilo kilogram กิโลกรัม 公斤",
}.items():
    for _spelling in _spellings.split():
        UNITS[_spelling] = _canon
CURRENCY_PREFIXES = ("$", "rm", "rp", "₱", "php", "฿", "¥", "￥", "usd", "thb")
# Words that may sit between a number and its unit ("5 business days", "5 hari bekerja").
UNIT_QUALIFIERS = frozenset("""business working calendar full whole more kerja bekerja
berturut na ng ka individual""".split())
RANGE_WORDS = frozenset("to - – hingga sampai hanggang o or atau ถึง 至 到 ~".split())

# Number words, written as digits before anything else looks at the text.
NUMBER_WORDS: dict[str, int] = {}
for _value, _words in enumerate([
    "", "one satu isa isang", "two dua dalawa dalawang", "three tiga tatlo tatlong",
    "four empat apat", "five lima limang", "six enam anim anim na", "seven tujuh pito pitong",
    "eight lapan delapan walo walong", "nine sembilan siyam", "ten sepuluh sampu sampung",
]):
    for _word in _words.split():
        NUMBER_WORDS[_word] = _value
NUMBER_WORDS.update({"twelve": 12, "fourteen": 14, "fifteen": 15, "twenty": 20,
                     "thirty": 30, "sixty": 60, "ninety": 90, "hundred": 100})
THAI_NUMBERS = {"หนึ่ง": 1, "สอง": 2, "สาม": 3, "สี่": 4, "ห้า": 5, "หก": 6, "เจ็ด": 7,
                "แปด": 8, "เก้า": 9, "สิบ": 10, "ยี่สิบ": 20, "สามสิบ": 30}
CHINESE_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4,
                  "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
CHINESE_SCALES = {"十": 10, "百": 100, "千": 1000, "万": 10000, "萬": 10000}

MONTHS: dict[str, int] = {}
for _number, _names in enumerate([
    "january jan januari enero มกราคม",
    "february feb februari pebrero febrero กุมภาพันธ์",
    "march mar mac maret marso มีนาคม",
    "april apr abril เมษายน",
    "mei mayo พฤษภาคม",  # English "may" is left out: it is far more often the verb
    "june jun juni hunyo มิถุนายน",
    "july jul julai juli hulyo กรกฎาคม",
    "august aug ogos agustus agosto สิงหาคม",
    "september sep sept setyembre septiyembre กันยายน",
    "october oct oktober oktubre ตุลาคม",
    "november nov nobyembre พฤศจิกายน",
    "december dec disember desember disyembre ธันวาคม",
], start=1):
    for _name in _names.split():
        MONTHS[_name] = _number

# Synonyms: every spelling in a group is read as the group's first word. Phrases are
# allowed; Latin entries match on word boundaries, Thai/Chinese ones as substrings.
SYNONYMS: list[tuple[str, ...]] = [
    # English
    ("refund", "reimbursement", "money back", "refunded", "reimburse", "reimbursed"),
    ("purchase", "buying", "bought", "order date", "buy"),
    ("customer", "client", "buyer", "shopper"),
    ("receive", "obtain", "claim", "get back"),
    ("within", "inside", "no later than", "up to"),
    ("free", "free of charge", "at no cost", "no charge", "complimentary"),
    ("ship", "shipping", "shipped", "delivery", "deliver", "delivered", "dispatch"),
    ("pay", "paid", "payment", "repay", "repaid", "returned"),
    ("original", "same", "initial"),
    ("apply", "submit", "application", "request", "requested"),
    ("approval", "approve", "approved", "accepted", "accept", "granted"),
    ("rejection", "reject", "rejected", "declined", "decline", "denied", "deny", "refused"),
    ("contact", "reach", "call"),
    ("require", "need", "needed", "required", "necessary", "mandatory"),
    ("cancel", "cancellation", "cancelled", "canceled", "terminate"),
    ("fee", "charge", "cost"),
    ("business", "working"),
    ("account", "profile"),
    ("open", "available", "operate"),
    ("begin", "start", "starting", "commence"),
    # Malay / Indonesian
    ("bayaran balik", "pulangan wang", "pengembalian dana", "refund", "wang dikembalikan",
     "dana dikembalikan", "uang kembali", "pemulangan wang"),
    ("pembelian", "membeli", "beli", "dibeli", "belian"),
    ("pelanggan", "pembeli", "klien"),
    ("dalam tempoh", "dalam masa", "dalam waktu", "dalam jangka waktu", "tidak lebih dari"),
    ("percuma", "gratis", "tanpa bayaran", "tanpa biaya", "tidak dikenakan bayaran"),
    ("penghantaran", "pengiriman", "penghantar", "dihantar", "dikirim", "kiriman", "hantar",
     "kirim"),
    ("permohonan", "memohon", "mohon", "pengajuan", "mengajukan", "diajukan"),
    ("diluluskan", "lulus", "kelulusan", "disetujui", "persetujuan", "diterima", "diluluskan"),
    ("ditolak", "penolakan", "tolak", "menolak"),
    ("kaedah pembayaran", "cara pembayaran", "metode pembayaran", "kaedah bayaran"),
    ("dibayar", "dibayarkan", "bayar", "membayar", "pembayaran", "dikembalikan", "dipulangkan"),
    ("asal", "asli", "awal", "sama"),
    ("hubungi", "menghubungi", "telefon", "kontak"),
    ("perlu", "harus", "wajib", "mesti", "diperlukan"),
    ("hari bekerja", "hari kerja", "hari perniagaan"),
    ("caj", "yuran", "biaya", "bayaran", "ongkos"),
    ("mengambil", "memakan", "ambil"),
    # Tagalog
    ("refund", "ibabalik ang pera", "pagbabalik ng pera", "maibalik ang pera", "ibinabalik",
     "ibabalik", "maibabalik", "isasauli", "ibinalik"),
    ("pagbili", "pagkabili", "binili", "bumili", "pinamili"),
    ("customer", "kustomer", "mamimili", "kliyente"),
    ("loob ng", "sa loob ng", "hindi lalampas sa"),
    ("libre", "walang bayad", "free"),
    ("padala", "pagpapadala", "ipinapadala", "ipapadala", "delivery", "paghahatid",
     "ihahatid", "dumating", "darating"),
    ("aplikasyon", "mag-apply", "pag-apply", "kahilingan"),
    ("aprubado", "inaprubahan", "naaprubahan", "pag-apruba", "apruba", "tinanggap"),
    ("tinanggihan", "pagtanggi", "tanggihan", "tinatanggihan"),
    ("paraan ng pagbabayad", "paraan ng bayad"),
    ("orihinal", "dating", "parehong"),
    ("kailangan", "dapat", "kinakailangan"),
    ("bayad", "singil", "babayaran"),
    ("araw ng trabaho", "araw ng negosyo", "working day"),
    # Thai
    ("คืนเงิน", "เงินคืน", "ได้รับเงินคืน", "ขอเงินคืน", "รับเงินคืน"),
    ("ซื้อ", "สั่งซื้อ", "การซื้อ", "ซื้อสินค้า"),
    ("ลูกค้า", "ผู้ซื้อ", "ผู้ใช้บริการ"),
    ("ภายใน", "ไม่เกิน"),
    ("ฟรี", "ไม่มีค่าใช้จ่าย", "ไม่เสียค่าใช้จ่าย", "ไม่คิดค่า"),
    ("จัดส่ง", "ส่งของ", "ส่งสินค้า", "การส่ง"),
    ("อนุมัติ", "ผ่านการอนุมัติ", "ได้รับอนุมัติ", "ยอมรับ"),
    ("ปฏิเสธ", "ไม่อนุมัติ", "ถูกปฏิเสธ"),
    ("วิธีชำระเงิน", "ช่องทางการชำระเงิน", "วิธีการชำระเงิน"),
    ("ชำระ", "จ่าย", "โอน"),
    ("เดิม", "เดียวกัน"),
    ("ติดต่อ", "โทรหา"),
    ("ต้อง", "จำเป็นต้อง"),
    ("ค่าธรรมเนียม", "ค่าบริการ", "ค่าใช้จ่าย"),
    ("ยื่น", "สมัคร"),
    # Chinese
    ("退款", "退钱", "退还款项", "退回款项", "退费"),
    ("购买", "购物", "买", "下单", "購買"),
    ("顾客", "客户", "用户", "买家", "顧客"),
    ("以内", "之内", "不超过"),
    ("免费", "免运费", "不收费", "无需付费"),
    ("配送", "发货", "送货", "运送", "寄送", "送达", "送到"),
    ("批准", "核准", "通过", "同意", "获批"),
    ("拒绝", "驳回", "不予批准", "不批准"),
    ("原支付方式", "原付款方式", "原来的支付方式", "原路"),
    ("支付", "付款", "退回", "退到", "返还"),
    ("联系", "联络", "致电"),
    ("需要", "必须"),
    ("费用", "手续费", "收费"),
    ("申请", "提出申请", "提交申请"),
    ("可以", "能够"),
]

# Opposed terms used in policies: an output saying one where the source says the
# other states the opposite with nearly the same words. Canonical (post-synonym) forms.
OPPOSITES: list[tuple[str, str]] = [
    ("approval", "rejection"), ("before", "after"), ("increase", "decrease"),
    ("eligible", "ineligible"), ("allowed", "prohibited"), ("include", "exclude"),
    ("free", "fee"), ("full", "partial"), ("minimum", "maximum"), ("open", "closed"),
    ("refundable", "nonrefundable"), ("earlier", "later"), ("more", "less"),
    ("diluluskan", "ditolak"), ("sebelum", "selepas"), ("sebelum", "sesudah"),
    ("sebelum", "setelah"), ("naik", "turun"), ("penuh", "separa"), ("penuh", "sebagian"),
    ("percuma", "caj"), ("layak", "tidak layak"), ("dibuka", "ditutup"),
    ("aprubado", "tinanggihan"), ("bago", "pagkatapos"), ("libre", "bayad"),
    ("buo", "bahagi"), ("bukas", "sarado"),
    ("อนุมัติ", "ปฏิเสธ"), ("ก่อน", "หลัง"), ("เพิ่ม", "ลด"), ("ฟรี", "ค่าธรรมเนียม"),
    ("เต็มจำนวน", "บางส่วน"), ("เปิด", "ปิด"),
    ("批准", "拒绝"), ("之前", "之后"), ("增加", "减少"), ("免费", "费用"),
    ("全额", "部分"), ("开放", "关闭"), ("最多", "最少"), ("提前", "延后"),
]
