"""Code lists and weights behind `policy-push synth`: where synthetic firms are, what they do, their names.

Every region code here is a current GB/T 2260 county-level code inside one of the five measures'
jurisdictions (checked against engine.core.regions by the tests); industries are drawn from the
GB/T 4754-2017 table itself (engine/core/data/gbt4754_2017.tsv), so only the pools' weights live here.
Weights are relative; they need not sum to one.
"""

from __future__ import annotations

#: Document slug → (share of firms, {county code: relative weight}). Urban districts, where most
#: market entities are registered, weigh more than remote counties.
JURISDICTIONS: dict[str, tuple[float, dict[str, float]]] = {
    # 大同市 (140200): 平城区 is the city centre.
    "datong-2022": (0.22, {
        "140213": 6, "140214": 3, "140215": 2, "140212": 1, "140221": 1, "140222": 1,
        "140223": 1, "140224": 1, "140225": 1, "140226": 1,
    }),
    # 阳泉市城区 (140302): the measure covers this one district.
    "yangquan-chengqu-2023": (0.16, {"140302": 1}),
    # 吕梁市 (141100): 离石区 is the seat; 孝义、汾阳 are the largest county-level cities.
    "lvliang-2022": (0.20, {
        "141102": 5, "141181": 3, "141182": 3, "141121": 1, "141122": 1, "141123": 1, "141124": 1,
        "141125": 1, "141127": 1, "141129": 1,
    }),
    # 青海省 (630000): 西宁's districts, 海东, and the prefecture seats.
    "qinghai-2022": (0.20, {
        "630102": 4, "630103": 4, "630104": 3, "630105": 3, "630106": 2, "630121": 1, "630202": 2,
        "630203": 1, "630222": 1, "632521": 1, "632801": 2, "632802": 1, "632701": 1,
    }),
    # 云南省 (530000): 昆明's districts, then prefecture seats.
    "yunnan-2022": (0.22, {
        "530102": 4, "530103": 4, "530111": 3, "530112": 3, "530114": 2, "530181": 1, "530302": 2,
        "530402": 2, "530502": 1, "530702": 1, "532301": 1, "532503": 1, "532801": 1, "532901": 2,
        "533102": 1, "533103": 1,
    }),
}

#: The year a jurisdiction's measure applies in: events of its firms mostly fall in this year.
MEASURE_YEAR = {"datong-2022": 2022, "yangquan-chengqu-2023": 2023, "lvliang-2022": 2022,
                "qinghai-2022": 2022, "yunnan-2022": 2022}

#: Industry pools, as predicates over a 4-digit class code's section and digits, with weights for
#: enterprises and for 个体工商户 (mostly shops, eateries and household services).
INDUSTRY_POOLS: dict[str, tuple[float, float]] = {
    "retail": (0.20, 0.45),          # F52 零售业
    "wholesale": (0.13, 0.0),        # F51 批发业
    "catering": (0.12, 0.30),        # H62 餐饮业
    "manufacturing": (0.17, 0.0),    # C 制造业
    "agriculture": (0.10, 0.10),     # A 农、林、牧、渔业
    "software": (0.06, 0.0),         # I65 软件和信息技术服务业
    "household": (0.02, 0.15),       # O80/O81 居民服务、修理
    "other": (0.20, 0.0),            # everything else the 300号 rows cover
}

#: Size classes as 工信部联企业〔2011〕300号 names them (and engine.judging.derive.size_class
#: does: the tests hold the two to the same spelling); spelled here so that the event-type
#: generators need not import the judging code.
LARGE, MEDIUM, SMALL, MICRO = "大型", "中型", "小型", "微型"

#: Size class mix: most market entities are micro.
SIZE_MIX_ENTERPRISE = {MICRO: 0.62, SMALL: 0.26, MEDIUM: 0.10, LARGE: 0.02}
SIZE_MIX_INDIVIDUAL = {MICRO: 0.95, SMALL: 0.05}

#: Share of market entities that are 个体工商户 (nationally about two thirds; fewer here so the
#: enterprise-only clauses have firms to match).
INDIVIDUAL_SHARE = 0.30

#: 2021 tax credit grades (纳税信用), roughly as published: most firms B, a third A.
CREDIT_GRADES = {"A": 0.30, "B": 0.50, "M": 0.15, "C": 0.04, "D": 0.01}

#: Certification kinds for firms with one (a few); agricultural firms get 农业产业化龙头企业 instead.
CERT_KINDS = {"specialized_sme": 0.40, "innovative_sme": 0.22, "tech_sme": 0.15, "high_tech": 0.10,
              "little_giant": 0.05, "gazelle": 0.05, "tech_innovation_center": 0.03}

#: Mobile prefixes of the three carriers (号段); the rest of the number is random and then
#: checked with phonenumbers.
MOBILE_PREFIXES = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153", "155",
    "156", "157", "158", "159", "166", "177", "180", "181", "182", "183", "185", "186", "187", "188",
    "189", "198", "199",
)

#: Email domains reserved for examples (RFC 2606): notices to them can never reach anyone.
EMAIL_DOMAINS = ("example.com", "example.net", "example.org")

#: 字号 (trade name) characters; two are drawn per firm.
TRADE_CHARS = "鑫恒瑞华宏金永康广汇兴德聚万丰盛泰祥嘉润博创新天佳宇鼎益安昌源通达信诚隆富福顺利和美正宝"

#: Common surnames for 个体工商户 names ("王记面馆").
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐韩冯邓曹彭"

#: Industry word in an enterprise's name, by division (longest known prefix of the class digits).
ENTERPRISE_WORDS: dict[str, tuple[str, ...]] = {
    "01": ("农业开发", "种植", "农业科技"), "02": ("林业",), "03": ("牧业", "养殖"), "04": ("渔业",),
    "05": ("农业服务", "农机服务"),
    "06": ("煤业",), "07": ("能源",), "08": ("矿业",), "09": ("矿业",), "10": ("矿业", "石材"),
    "13": ("食品", "粮油"), "14": ("食品",), "15": ("酒业", "饮品"), "17": ("纺织",), "18": ("服饰",),
    "19": ("皮革制品",), "20": ("木业",), "21": ("家具",), "22": ("纸业",), "23": ("印务",),
    "24": ("文体用品",), "25": ("焦化",), "26": ("化工",), "27": ("药业",), "29": ("塑胶制品",),
    "30": ("建材",), "31": ("钢铁",), "32": ("有色金属",), "33": ("金属制品",), "34": ("机械",),
    "35": ("机械设备",), "36": ("汽车零部件",), "37": ("装备",), "38": ("电气",), "39": ("电子科技",),
    "40": ("仪器仪表",), "41": ("工艺品",), "42": ("再生资源",), "43": ("设备维修",),
    "44": ("电力", "新能源"), "45": ("燃气",), "46": ("水务",),
    "47": ("建筑工程",), "48": ("建设工程", "路桥工程"), "49": ("安装工程",), "50": ("装饰工程",),
    "51": ("商贸", "贸易", "物资"), "52": ("商贸", "百货", "超市"),
    "54": ("运输",), "55": ("航运",), "56": ("航空服务",), "57": ("管道运输",), "58": ("货运代理",),
    "59": ("仓储物流",), "60": ("快递",),
    "61": ("酒店管理", "宾馆"), "62": ("餐饮管理", "餐饮"),
    "63": ("通信技术",), "64": ("网络科技",), "65": ("信息技术", "软件", "数字科技"),
    "70": ("物业管理", "房地产经纪"), "71": ("租赁",), "72": ("商务咨询", "企业管理", "广告"),
    "73": ("科技",), "74": ("技术服务", "工程设计"), "75": ("科技推广",),
    "76": ("水利工程",), "77": ("环保科技", "园林绿化"), "78": ("市政工程",), "79": ("服务",),
    "80": ("家政服务",), "81": ("汽车维修",), "82": ("生活服务",),
    "85": ("社会服务",), "86": ("文化传媒",), "87": ("影视文化",), "88": ("文化艺术",), "89": ("体育文化",),
    "90": ("娱乐",),
}

#: Shop word in a 个体工商户's name, by division.
SHOP_WORDS: dict[str, tuple[str, ...]] = {
    "01": ("种植园", "家庭农场"), "02": ("林场",), "03": ("养殖场",), "04": ("养殖场",), "05": ("农机服务部",),
    "51": ("批发部",), "52": ("便利店", "超市", "五金店", "服装店", "烟酒店", "日杂店", "水果店"),
    "61": ("旅馆",), "62": ("面馆", "饭店", "小吃店", "火锅店", "早餐店", "烧烤店"),
    "80": ("理发店", "洗衣店", "家政服务部"), "81": ("汽车修理部", "家电维修部"), "82": ("摄影部",),
}

#: Guarantors named on loans, by kind.
GUARANTORS = {
    "agricultural": "省农业信贷融资担保有限公司",
    "business_guarantee": "创业担保贷款担保基金",
}
